"""The standalone worker: the Lambda worker's processing in a long-running polling loop.

`python -m sheetflow.worker` long-polls the task queue and runs exactly
`sheetflow.processing.process_message` on each message, so Lambda and containers share one code
path. A supervisor process starts `concurrency` consumer processes, each polling on its own,
serves the health endpoints and turns SIGTERM/SIGINT into a graceful stop.
"""
