"""CloudWatch metrics that alarms depend on, published with PutMetricData.

Powertools writes metrics as embedded-metric log lines, which CloudWatch Logs turns into metrics on
AWS but LocalStack does not. The watchdog's and the canary's findings feed alarms, so they are put
directly: the same call works on AWS and locally.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from sheetflow.dal.clients import cloudwatch_client
from sheetflow.dal.errors import dependency_call

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.type_defs import MetricDatumTypeDef

# Every stack's metrics carry its name, so stacks sharing an account (or one LocalStack) and
# their alarms never see each other's figures.
PIPELINE_DIMENSION = "Pipeline"


def put_counts(
    namespace: str, pipeline: str, counts: Mapping[str, float], timestamp: datetime
) -> None:
    data: list[MetricDatumTypeDef] = [
        {
            "MetricName": name,
            "Dimensions": [{"Name": PIPELINE_DIMENSION, "Value": pipeline}],
            "Value": float(value),
            "Unit": "Count",
            "Timestamp": timestamp,
        }
        for name, value in counts.items()
    ]
    if not data:
        return
    with dependency_call("PutMetricData"):
        cloudwatch_client().put_metric_data(Namespace=namespace, MetricData=data)
