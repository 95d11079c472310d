"""A stand-in for `python -m llama_cpp.server`, so the launcher is tested in milliseconds.

    python fake_llama_server.py PORT MODE [PIDFILE]

MODE: `ok` serves /v1/models; `child` does too and starts a grandchild in its process
group, writing the grandchild's pid to PIDFILE; `exit` prints an error and exits 3;
`silent` never listens.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Models(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"object": "list", "data": [{"id": "fake-smol", "object": "model"}]})
        self.send_response(200 if self.path == "/v1/models" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        print("request:", format % args, flush=True)


def main(port: int, mode: str, pidfile: str | None) -> None:
    print(f"fake llama server: pid {os.getpid()} mode {mode} on port {port}", flush=True)
    if mode == "exit":
        print("error: failed to load model: boom", flush=True)
        raise SystemExit(3)
    if mode == "silent":
        time.sleep(600)
    if mode == "child" and pidfile:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        Path(pidfile).write_text(str(child.pid))
    ThreadingHTTPServer(("127.0.0.1", port), Models).serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
