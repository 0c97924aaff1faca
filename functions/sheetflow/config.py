"""Configuration from environment variables, parsed once per function into typed values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


class ConfigError(RuntimeError):
    """A required environment variable is missing or malformed."""


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is required")
    return value


def _results_bucket(env: Mapping[str, str], uploads_bucket: str) -> str:
    """Where result documents go: RESULTS_BUCKET, or the uploads bucket when unset."""
    return env.get("RESULTS_BUCKET", "").strip() or uploads_bucket


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
    if maximum is not None and not minimum <= value <= maximum:
        raise ConfigError(
            f"environment variable {name} must be between {minimum} and {maximum}, not {value}"
        )
    if value < minimum:
        raise ConfigError(f"environment variable {name} must be at least {minimum}, not {value}")
    return value


@dataclass(frozen=True)
class ApiConfig:
    table_name: str
    bucket_name: str
    results_bucket: str
    queue_url: str
    dlq_url: str
    failed_queue_url: str
    max_upload_bytes: int
    retention_hours: int
    presign_expiry_seconds: int
    result_url_expiry_seconds: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ApiConfig:
        bucket = _required(env, "BUCKET_NAME")
        return cls(
            table_name=_required(env, "TABLE_NAME"),
            bucket_name=bucket,
            results_bucket=_results_bucket(env, bucket),
            queue_url=_required(env, "QUEUE_URL"),
            dlq_url=_required(env, "DLQ_URL"),
            failed_queue_url=_required(env, "FAILED_QUEUE_URL"),
            max_upload_bytes=integer_setting(env, "MAX_UPLOAD_BYTES", 10 * 1024 * 1024, minimum=1),
            retention_hours=integer_setting(env, "RETENTION_HOURS", 168, minimum=1),
            presign_expiry_seconds=integer_setting(env, "PRESIGN_EXPIRY_SECONDS", 900, minimum=1),
            result_url_expiry_seconds=integer_setting(
                env, "RESULT_URL_EXPIRY_SECONDS", 3600, minimum=1
            ),
        )


@dataclass(frozen=True)
class WorkerConfig:
    table_name: str
    bucket_name: str
    results_bucket: str
    queue_url: str
    max_upload_bytes: int
    max_uncompressed_bytes: int
    retention_hours: int
    retry_base_seconds: int
    retry_max_seconds: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WorkerConfig:
        bucket = _required(env, "BUCKET_NAME")
        return cls(
            table_name=_required(env, "TABLE_NAME"),
            bucket_name=bucket,
            results_bucket=_results_bucket(env, bucket),
            queue_url=_required(env, "QUEUE_URL"),
            max_upload_bytes=integer_setting(env, "MAX_UPLOAD_BYTES", 10 * 1024 * 1024, minimum=1),
            max_uncompressed_bytes=integer_setting(
                env, "MAX_UNCOMPRESSED_BYTES", 200 * 1024 * 1024, minimum=1
            ),
            retention_hours=integer_setting(env, "RETENTION_HOURS", 168, minimum=1),
            retry_base_seconds=integer_setting(env, "RETRY_BASE_SECONDS", 30),
            retry_max_seconds=integer_setting(env, "RETRY_MAX_SECONDS", 900),
        )


@dataclass(frozen=True)
class DeadLetterConfig:
    table_name: str
    bucket_name: str
    # Where handled dead letters are parked for inspection and redrive.
    failed_queue_url: str
    max_receive_count: int
    retention_hours: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DeadLetterConfig:
        return cls(
            table_name=_required(env, "TABLE_NAME"),
            bucket_name=_required(env, "BUCKET_NAME"),
            failed_queue_url=_required(env, "FAILED_QUEUE_URL"),
            max_receive_count=integer_setting(env, "MAX_RECEIVE_COUNT", 3, minimum=1),
            retention_hours=integer_setting(env, "RETENTION_HOURS", 168, minimum=1),
        )


@dataclass(frozen=True)
class CleanupConfig:
    table_name: str
    bucket_name: str
    results_bucket: str
    retention_hours: int
    page_size: int
    safety_margin_ms: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CleanupConfig:
        bucket = _required(env, "BUCKET_NAME")
        return cls(
            table_name=_required(env, "TABLE_NAME"),
            bucket_name=bucket,
            results_bucket=_results_bucket(env, bucket),
            retention_hours=integer_setting(env, "RETENTION_HOURS", 168, minimum=1),
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
class PipelineWatchConfig:
    """What the watchdog, the canary and /health need to judge whether work is being done."""

    table_name: str
    bucket_name: str
    results_bucket: str
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
    retention_hours: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PipelineWatchConfig:
        bucket = _required(env, "BUCKET_NAME")
        return cls(
            table_name=_required(env, "TABLE_NAME"),
            bucket_name=bucket,
            results_bucket=_results_bucket(env, bucket),
            queue_url=_required(env, "QUEUE_URL"),
            pipeline_name=_required(env, "PIPELINE_NAME"),
            metrics_namespace=env.get("POWERTOOLS_METRICS_NAMESPACE", "").strip() or "Sheetflow",
            worker_function_name=_required(env, "WORKER_FUNCTION_NAME"),
            stall_threshold_seconds=integer_setting(env, "STALL_THRESHOLD_SECONDS", 300, minimum=1),
            presign_expiry_seconds=integer_setting(env, "PRESIGN_EXPIRY_SECONDS", 900, minimum=1),
            retry_max_seconds=integer_setting(env, "RETRY_MAX_SECONDS", 900),
            canary_enabled=_flag(env, "CANARY_ENABLED", default=False),
            canary_deadline_seconds=integer_setting(env, "CANARY_DEADLINE_SECONDS", 120, minimum=1),
            retention_hours=integer_setting(env, "RETENTION_HOURS", 168, minimum=1),
        )
