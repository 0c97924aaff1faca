"""HTTP health endpoints, served by the supervisor on a daemon thread.

GET /healthz: liveness (200 or 503), for restart decisions. GET /readyz: dependencies reachable
(200 or 503), for traffic and rollout decisions. Anything else: 404.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Probe = Callable[[], tuple[bool, dict[str, Any]]]


class HealthServer:
    def __init__(self, port: int, liveness: Probe, readiness: Probe) -> None:
        # Readiness calls AWS; one at a time keeps a burst of probes from piling up calls.
        readiness_lock = threading.Lock()

        def ready() -> tuple[bool, dict[str, Any]]:
            with readiness_lock:
                return readiness()

        routes: dict[str, Probe] = {"/healthz": liveness, "/readyz": ready}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                probe = routes.get(self.path.split("?", 1)[0])
                if probe is None:
                    self._answer(404, {"error": f"no such path {self.path}"})
                    return
                ok, document = probe()
                self._answer(200 if ok else 503, document)

            def _answer(self, status: int, document: dict[str, Any]) -> None:
                body = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # probes every few seconds would drown the worker's own log

        # All interfaces: container orchestrators probe from outside the container.
        self._server = ThreadingHTTPServer(("", port), Handler)
        self._server.daemon_threads = True

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, name="health", daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
