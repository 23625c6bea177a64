"""A stand-in server for tests of process-group stopping: it forks a worker, then answers 200.

`python tests/forking_server.py PORT PIDFILE`: the worker's pid goes to PIDFILE. On SIGTERM the
server dies at once (Python's default) and leaves its worker running, as a server whose workers
outlive it would; only a stop that signals the whole process group ends the worker.
"""

from __future__ import annotations

import http.server
import subprocess
import sys
from pathlib import Path


class _Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    """Fork the worker, record its pid, serve until killed."""
    port, pid_file = int(sys.argv[1]), Path(sys.argv[2])
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    pid_file.write_text(str(worker.pid))
    http.server.HTTPServer(("127.0.0.1", port), _Answer).serve_forever()


if __name__ == "__main__":
    main()
