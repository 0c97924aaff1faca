"""The standalone worker: the Lambda worker's processing in a long-running polling loop.

`python -m sheetflow.worker` long-polls the task queue and runs exactly
`sheetflow.usecases.processing.process_message` on each message, so Lambda and containers share
one code path. Following one message means reading, in order:

- `cli`: configuration (`sheetflow.config.StandaloneConfig`), the queue check, start;
- `supervisor`: starts `concurrency` consumer processes, restarts dead ones, turns
  SIGTERM/SIGINT into a graceful stop;
- `consumer`: one process's poll → process → delete or retry loop, and how it stops;
- `holding`: the messages and task claims a consumer holds, kept alive by a heartbeat;
- `health`: liveness and readiness, and the HTTP server for /healthz and /readyz.
"""
