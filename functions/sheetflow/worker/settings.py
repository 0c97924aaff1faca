"""The standalone worker's configuration: environment variables, parsed once into typed values.

The processing settings (table, buckets, limits, retries) are the Lambda worker's own
`WorkerConfig`; this adds what only a polling loop needs. Command-line flags may override the
few values a person changes when starting a worker by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from sheetflow.config import ConfigError, WorkerConfig, integer_setting
from sheetflow.logic.validation import ValidationLimits
from sheetflow.processing import WorkerSettings

# SQS limits for ReceiveMessage.
MAX_RECEIVE_BATCH = 10
MAX_WAIT_SECONDS = 20
# A heartbeat every third of the visibility timeout leaves two beats of slack before it lapses.
HEARTBEATS_PER_VISIBILITY = 3


@dataclass(frozen=True)
class StandaloneSettings:
    processing: WorkerConfig
    concurrency: int
    # Visibility timeout the worker gives each message it holds, renewed by the heartbeat.
    visibility_seconds: int
    grace_seconds: int
    health_port: int
    # /healthz turns 503 when an idle consumer has not completed a poll for this long.
    health_stale_seconds: int
    receive_batch: int
    wait_seconds: int
    metrics_namespace: str

    @property
    def queue_url(self) -> str:
        return self.processing.queue_url

    @property
    def heartbeat_seconds(self) -> float:
        return self.visibility_seconds / HEARTBEATS_PER_VISIBILITY

    @property
    def lease_seconds(self) -> int:
        """How long a claim on a task lasts between heartbeats.

        Half the visibility timeout: if the worker dies, its message reappears one visibility
        timeout after the last heartbeat, by which time the task's lease (renewed a moment after
        that heartbeat, or set by the claim less than a heartbeat after it) has lapsed, so the
        redelivery can claim the task instead of finding it still held.
        """
        return max(1, self.visibility_seconds // 2)

    def worker_settings(self) -> WorkerSettings:
        config = self.processing
        return WorkerSettings(
            uploads_bucket=config.bucket_name,
            results_bucket=config.results_bucket,
            retention_hours=config.retention_hours,
            lease_seconds=self.lease_seconds,
            retry_base_seconds=config.retry_base_seconds,
            retry_max_seconds=config.retry_max_seconds,
            validation=ValidationLimits(
                max_file_bytes=config.max_upload_bytes,
                max_uncompressed_bytes=config.max_uncompressed_bytes,
            ),
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StandaloneSettings:
        return cls(
            processing=WorkerConfig.from_env(env),
            concurrency=integer_setting(env, "WORKER_CONCURRENCY", 1, 1, 64),
            visibility_seconds=integer_setting(env, "WORKER_VISIBILITY_SECONDS", 60, 2, 43_200),
            grace_seconds=integer_setting(env, "WORKER_GRACE_SECONDS", 30, 0, 3_600),
            health_port=integer_setting(env, "WORKER_HEALTH_PORT", 0, 0, 65_535),
            health_stale_seconds=integer_setting(env, "WORKER_HEALTH_STALE_SECONDS", 60, 1, 86_400),
            receive_batch=integer_setting(env, "WORKER_RECEIVE_BATCH", MAX_RECEIVE_BATCH, 1, 10),
            wait_seconds=integer_setting(env, "WORKER_WAIT_SECONDS", MAX_WAIT_SECONDS, 0, 20),
            metrics_namespace=env.get("POWERTOOLS_METRICS_NAMESPACE", "").strip() or "Sheetflow",
        )

    def with_overrides(
        self,
        *,
        concurrency: int | None = None,
        grace_seconds: int | None = None,
        health_port: int | None = None,
    ) -> StandaloneSettings:
        """Command-line flags win over the environment; the same bounds apply."""
        updated = self
        if concurrency is not None:
            updated = replace(updated, concurrency=_check("--concurrency", concurrency, 1, 64))
        if grace_seconds is not None:
            updated = replace(
                updated, grace_seconds=_check("--grace-seconds", grace_seconds, 0, 3_600)
            )
        if health_port is not None:
            updated = replace(updated, health_port=_check("--health-port", health_port, 0, 65_535))
        return updated


def _check(what: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise ConfigError(f"{what} must be between {low} and {high}, not {value}")
    return value
