# The standalone worker: the same code as the Lambda functions, started as a long-running
# process (`python -m sheetflow.worker`) for ECS, Kubernetes or any container host.
#
#   docker build -t sheetflow-worker .
#   docker run --rm -e QUEUE_URL=... -e TABLE_NAME=... -e BUCKET_NAME=... -e EVENT_BUS_NAME=... -p 8080:8080 \
#       sheetflow-worker --concurrency 2
#
# Configuration is environment variables only (docs/worker.md). Stop it with SIGTERM
# (`docker stop` gives 10 s by default: pass --time longer than WORKER_GRACE_SECONDS).
FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    POWERTOOLS_SERVICE_NAME=sheetflow \
    POWERTOOLS_METRICS_NAMESPACE=Sheetflow \
    POWERTOOLS_TRACE_DISABLED=true \
    WORKER_HEALTH_PORT=8080

WORKDIR /app

# The functions' own pinned dependencies, plus boto3, which Lambda provides but a container must
# bring (the version the project is tested with).
COPY functions/requirements.txt /app/requirements.txt
RUN pip install --no-cache-dir -r /app/requirements.txt "boto3==1.44.8"

COPY functions/sheetflow /app/sheetflow

# tini as PID 1 reaps orphans and passes SIGTERM on to the worker, which stops gracefully.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home sheetflow
USER sheetflow

EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"WORKER_HEALTH_PORT\"]}/healthz', timeout=4)"

STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "python", "-m", "sheetflow.worker"]
