"""Configuration from environment variables, parsed once per process into typed values.

Every function shares the stack's resources (task table, buckets, retention); each model below
adds what its function needs. The Lambda worker and the standalone worker share `WorkerConfig`:
the standalone worker's `StandaloneConfig` wraps it with what only a polling loop needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sheetflow.logic.budget import TimeBudget
from sheetflow.logic.faults import FaultPlan, FaultPlanError, parse_fault_plan
from sheetflow.logic.throttling import RateLimits
from sheetflow.logic.timers import SQS_MAX_DELAY_SECONDS, TimerLimits
from sheetflow.logic.uploads import MAX_API_UPLOAD_BYTES
from sheetflow.logic.validation import ValidationLimits

# Uploads through S3 (presigned, multipart, direct puts); the API body has its own, lower limit.
DEFAULT_MAX_UPLOAD = 100 * 1024 * 1024

# SQS limits for ReceiveMessage.
MAX_RECEIVE_BATCH = 10
MAX_WAIT_SECONDS = 20
# A heartbeat every third of the visibility timeout leaves two beats of slack before it lapses.
HEARTBEATS_PER_VISIBILITY = 3


class ConfigError(RuntimeError):
    """A required environment variable or flag is missing or malformed."""


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is required")
    return value


MAX_PRESIGN_SECONDS = 900


def integer_setting(
    env: Mapping[str, str], name: str, default: int, minimum: int = 0, maximum: int | None = None
) -> int:
    """An integer variable within bounds; the default when unset; ConfigError otherwise."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name} must be an integer, not {raw!r}") from None
    return _within(f"environment variable {name}", value, minimum, maximum)


def _within(what: str, value: int, minimum: int, maximum: int | None) -> int:
    if maximum is not None and not minimum <= value <= maximum:
        raise ConfigError(f"{what} must be between {minimum} and {maximum}, not {value}")
    if value < minimum:
        raise ConfigError(f"{what} must be at least {minimum}, not {value}")
    return value


def flag_setting(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in {"true", "false"}:
        raise ConfigError(f"environment variable {name} must be true or false, not {raw!r}")
    return raw == "true"


def fault_plan(env: Mapping[str, str]) -> FaultPlan | None:
    try:
        return parse_fault_plan(
            env.get("SHEETFLOW_FAULTS", ""), env.get("SHEETFLOW_FAULTS_SEED", "")
        )
    except FaultPlanError as error:
        raise ConfigError(
            f"environment variable SHEETFLOW_FAULTS (or SHEETFLOW_FAULTS_SEED): {error}; "
            "unset it to inject no faults"
        ) from None


def timer_limits(env: Mapping[str, str]) -> TimerLimits:
    return TimerLimits(
        retention_hours=integer_setting(env, "RETENTION_HOURS", 168, minimum=1),
        direct_max_seconds=integer_setting(
            env, "TIMER_DIRECT_MAX_SECONDS", SQS_MAX_DELAY_SECONDS, 0, SQS_MAX_DELAY_SECONDS
        ),
    )


DEFAULT_RATE_LIMITS = RateLimits(rate_per_second=10, burst=20, daily_quota=100_000)


def rate_limits(env: Mapping[str, str]) -> RateLimits:
    """API_RATE_LIMIT (requests per second), API_BURST_LIMIT and API_DAILY_QUOTA per API key."""
    default = DEFAULT_RATE_LIMITS
    return RateLimits(
        rate_per_second=integer_setting(
            env, "API_RATE_LIMIT", int(default.rate_per_second), minimum=1
        ),
        burst=integer_setting(env, "API_BURST_LIMIT", default.burst, minimum=1),
        daily_quota=integer_setting(env, "API_DAILY_QUOTA", default.daily_quota, minimum=1),
    )


@dataclass(frozen=True)
class StackConfig:
    """The resources every function works with."""

    table_name: str
    bucket_name: str
    # Where result documents go: RESULTS_BUCKET, or the uploads bucket when unset.
    results_bucket: str
    retention_hours: int
    # Injected AWS faults (SHEETFLOW_FAULTS, for chaos runs only): None, the default, is none.
    faults: FaultPlan | None = field(default=None, kw_only=True)

    @staticmethod
    def fields_from_env(env: Mapping[str, str]) -> dict[str, Any]:
        bucket = _required(env, "BUCKET_NAME")
        return {
            "table_name": _required(env, "TABLE_NAME"),
            "bucket_name": bucket,
            "results_bucket": env.get("RESULTS_BUCKET", "").strip() or bucket,
            "retention_hours": integer_setting(env, "RETENTION_HOURS", 168, minimum=1),
            "faults": fault_plan(env),
        }


@dataclass(frozen=True)
class ApiConfig(StackConfig):
    queue_url: str
    dlq_url: str
    failed_queue_url: str
    # Presigned and multipart uploads (S3) / the POST /uploads body (Lambda's payload limit).
    max_upload_bytes: int
    max_api_upload_bytes: int
    presign_expiry_seconds: int
    result_url_expiry_seconds: int
    event_bus_name: str
    timers: TimerLimits
    # Callback URLs on loopback hosts: refused on AWS, allowed locally (AllowLoopbackCallbacks).
    allow_loopback_callbacks: bool
    # The stack's alarms whose states the dashboard shows (ALARM_NAMES, comma-separated).
    alarm_names: tuple[str, ...] = ()
    # Per API key: the usage plan's throttle and quota, enforced by the function itself.
    rate_limits: RateLimits = DEFAULT_RATE_LIMITS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ApiConfig:
        return cls(
            **StackConfig.fields_from_env(env),
            queue_url=_required(env, "QUEUE_URL"),
            dlq_url=_required(env, "DLQ_URL"),
            failed_queue_url=_required(env, "FAILED_QUEUE_URL"),
            max_upload_bytes=integer_setting(
                env, "MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD, minimum=1
            ),
            max_api_upload_bytes=integer_setting(
                env,
                "MAX_API_UPLOAD_BYTES",
                MAX_API_UPLOAD_BYTES,
                minimum=1,
                maximum=MAX_API_UPLOAD_BYTES,
            ),
            # Presigned URLs (upload and result) live at most 15 minutes.
            presign_expiry_seconds=integer_setting(
                env, "PRESIGN_EXPIRY_SECONDS", MAX_PRESIGN_SECONDS, 1, MAX_PRESIGN_SECONDS
            ),
            result_url_expiry_seconds=integer_setting(
                env, "RESULT_URL_EXPIRY_SECONDS", MAX_PRESIGN_SECONDS, 1, MAX_PRESIGN_SECONDS
            ),
            event_bus_name=_required(env, "EVENT_BUS_NAME"),
            timers=timer_limits(env),
            allow_loopback_callbacks=flag_setting(env, "ALLOW_LOOPBACK_CALLBACKS"),
            alarm_names=tuple(
                name.strip() for name in env.get("ALARM_NAMES", "").split(",") if name.strip()
            ),
            rate_limits=rate_limits(env),
        )


@dataclass(frozen=True)
class WorkerConfig(StackConfig):
    """How a task message is processed, by the Lambda worker and the standalone worker alike."""

    queue_url: str
    validation: ValidationLimits
    retry_base_seconds: int
    retry_max_seconds: int
    # Where every finished task is announced (task events).
    event_bus_name: str
    timers: TimerLimits
    # Applies where processing has a deadline (the Lambda worker's timeout).
    time_budget: TimeBudget = field(default_factory=TimeBudget)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WorkerConfig:
        return cls(
            **StackConfig.fields_from_env(env),
            queue_url=_required(env, "QUEUE_URL"),
            validation=ValidationLimits(
                max_file_bytes=integer_setting(
                    env, "MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD, minimum=1
                ),
                max_uncompressed_bytes=integer_setting(
                    env, "MAX_UNCOMPRESSED_BYTES", 1024 * 1024 * 1024, minimum=1
                ),
            ),
            retry_base_seconds=integer_setting(env, "RETRY_BASE_SECONDS", 30),
            retry_max_seconds=integer_setting(env, "RETRY_MAX_SECONDS", 900),
            event_bus_name=_required(env, "EVENT_BUS_NAME"),
            timers=timer_limits(env),
            time_budget=TimeBudget(
                xml_bytes_per_second=integer_setting(
                    env,
                    "PARSE_BYTES_PER_SECOND",
                    TimeBudget.xml_bytes_per_second,
                    minimum=1,
                ),
                margin_seconds=integer_setting(
                    env, "TIME_BUDGET_MARGIN_SECONDS", TimeBudget.margin_seconds
                ),
            ),
        )


@dataclass(frozen=True)
class StandaloneConfig:
    """The standalone worker: `WorkerConfig` plus what only a polling loop needs.

    Command-line flags may override the few values a person changes when starting it by hand.
    """

    worker: WorkerConfig
    concurrency: int
    # Visibility timeout the worker gives each message it holds, renewed by the heartbeat.
    visibility_seconds: int
    grace_seconds: int
    health_port: int
    # Slack before a consumer counts as hung: idle, no poll completed for the long-poll time plus
    # this; busy, no heartbeat tick for the heartbeat interval plus this.
    health_margin_seconds: int
    # Interval of the one-line status log (counts of processed, failed, retried, held); 0: none.
    status_log_seconds: int
    receive_batch: int
    wait_seconds: int
    metrics_namespace: str

    @property
    def queue_url(self) -> str:
        return self.worker.queue_url

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

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StandaloneConfig:
        return cls(
            worker=WorkerConfig.from_env(env),
            concurrency=integer_setting(env, "WORKER_CONCURRENCY", 1, 1, 64),
            visibility_seconds=integer_setting(env, "WORKER_VISIBILITY_SECONDS", 60, 2, 43_200),
            grace_seconds=integer_setting(env, "WORKER_GRACE_SECONDS", 30, 0, 3_600),
            health_port=integer_setting(env, "WORKER_HEALTH_PORT", 0, 0, 65_535),
            health_margin_seconds=integer_setting(
                env, "WORKER_HEALTH_MARGIN_SECONDS", 10, 1, 3_600
            ),
            status_log_seconds=integer_setting(env, "WORKER_STATUS_LOG_SECONDS", 60, 0, 86_400),
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
    ) -> StandaloneConfig:
        """Command-line flags win over the environment; the same bounds apply."""
        updated = self
        if concurrency is not None:
            updated = replace(updated, concurrency=_within("--concurrency", concurrency, 1, 64))
        if grace_seconds is not None:
            updated = replace(
                updated, grace_seconds=_within("--grace-seconds", grace_seconds, 0, 3_600)
            )
        if health_port is not None:
            updated = replace(updated, health_port=_within("--health-port", health_port, 0, 65_535))
        return updated


@dataclass(frozen=True)
class DeadLetterConfig(StackConfig):
    # Where handled dead letters are parked for inspection and redrive.
    failed_queue_url: str
    max_receive_count: int
    event_bus_name: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DeadLetterConfig:
        return cls(
            **StackConfig.fields_from_env(env),
            failed_queue_url=_required(env, "FAILED_QUEUE_URL"),
            max_receive_count=integer_setting(env, "MAX_RECEIVE_COUNT", 3, minimum=1),
            event_bus_name=_required(env, "EVENT_BUS_NAME"),
        )


@dataclass(frozen=True)
class SchedulerConfig(StackConfig):
    """The sweep that sends the messages of timers longer than SQS's delay."""

    queue_url: str
    # Tasks due within this many seconds get their (delayed) message now. At least a minute and
    # a bit, so the per-minute sweep never misses one; at most SQS's delay limit.
    horizon_seconds: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SchedulerConfig:
        return cls(
            **StackConfig.fields_from_env(env),
            queue_url=_required(env, "QUEUE_URL"),
            horizon_seconds=integer_setting(
                env, "SCHEDULER_HORIZON_SECONDS", 600, 90, SQS_MAX_DELAY_SECONDS
            ),
        )


@dataclass(frozen=True)
class MailerConfig(StackConfig):
    """E-mail about finished tasks through SES."""

    mail_from: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MailerConfig:
        return cls(**StackConfig.fields_from_env(env), mail_from=_required(env, "MAIL_FROM"))


@dataclass(frozen=True)
class WebhookConfig(StackConfig):
    """Signed POSTs of task events to the callback URL an upload gave."""

    # The webhook queue: a failed delivery's message is kept invisible for its backoff delay.
    queue_url: str
    # Secrets Manager secret holding the signing key.
    secret_id: str
    allow_loopback: bool
    retry_base_seconds: int
    retry_max_seconds: int
    timeout_seconds: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WebhookConfig:
        return cls(
            **StackConfig.fields_from_env(env),
            queue_url=_required(env, "WEBHOOK_QUEUE_URL"),
            secret_id=_required(env, "WEBHOOK_SECRET_ID"),
            allow_loopback=flag_setting(env, "ALLOW_LOOPBACK_CALLBACKS"),
            retry_base_seconds=integer_setting(env, "WEBHOOK_RETRY_BASE_SECONDS", 10, 1, 3600),
            retry_max_seconds=integer_setting(env, "WEBHOOK_RETRY_MAX_SECONDS", 900, 1, 43_200),
            timeout_seconds=integer_setting(env, "WEBHOOK_TIMEOUT_SECONDS", 10, 1, 60),
        )


@dataclass(frozen=True)
class ExportConfig(StackConfig):
    """The CSV export stage: the stack's resources are all it needs."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ExportConfig:
        return cls(**StackConfig.fields_from_env(env))


@dataclass(frozen=True)
class CleanupConfig(StackConfig):
    page_size: int
    safety_margin_ms: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CleanupConfig:
        return cls(
            **StackConfig.fields_from_env(env),
            page_size=integer_setting(env, "CLEANUP_PAGE_SIZE", 50, minimum=1),
            safety_margin_ms=integer_setting(env, "CLEANUP_SAFETY_MARGIN_MS", 10_000),
        )


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"true", "1", "yes"}:
        return True
    if raw in {"false", "0", "no"}:
        return False
    raise ConfigError(f"environment variable {name} must be true or false, not {raw!r}")


@dataclass(frozen=True)
class PipelineWatchConfig(StackConfig):
    """What the watchdog, the canary and /health need to judge whether work is being done."""

    queue_url: str
    # The stack's name: the Pipeline dimension of the metrics alarms watch.
    pipeline_name: str
    metrics_namespace: str
    worker_function_name: str
    stall_threshold_seconds: int
    presign_expiry_seconds: int
    retry_max_seconds: int
    canary_enabled: bool
    canary_deadline_seconds: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PipelineWatchConfig:
        return cls(
            **StackConfig.fields_from_env(env),
            queue_url=_required(env, "QUEUE_URL"),
            pipeline_name=_required(env, "PIPELINE_NAME"),
            metrics_namespace=env.get("POWERTOOLS_METRICS_NAMESPACE", "").strip() or "Sheetflow",
            worker_function_name=_required(env, "WORKER_FUNCTION_NAME"),
            stall_threshold_seconds=integer_setting(env, "STALL_THRESHOLD_SECONDS", 300, minimum=1),
            presign_expiry_seconds=integer_setting(env, "PRESIGN_EXPIRY_SECONDS", 900, minimum=1),
            retry_max_seconds=integer_setting(env, "RETRY_MAX_SECONDS", 900),
            canary_enabled=_flag(env, "CANARY_ENABLED", default=False),
            canary_deadline_seconds=integer_setting(env, "CANARY_DEADLINE_SECONDS", 120, minimum=1),
        )
