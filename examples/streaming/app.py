"""A chat endpoint that streams the model's answer to the browser as server-sent events.

Plain WSGI (the standard library's server here; gunicorn, Flask or any WSGI server work too):

    OPENAI_API_KEY=... python examples/streaming/app.py      # then open http://127.0.0.1:8000

    GET /            a page that reads the stream with EventSource
    GET /chat?q=...  text/event-stream: `delta` frames as tokens arrive, then `done` (or `error`)

Every call is written to `calls.jsonl` by the call log, usage and time to first token
included. Settings: EXAMPLE_MODEL (default gpt-4o-mini), OPENAI_BASE_URL for another
OpenAI-compatible endpoint, EXAMPLE_PORT (default 8000).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from promptkit.core import CallLog, Client, JSONLSink, ModelConfig
from promptkit.core.sse import wsgi_sse
from promptkit.errors import PromptkitError

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

SYSTEM = "You are a concise assistant. Answer in a few sentences."

PAGE = """<!doctype html>
<meta charset="utf-8"><title>promptkit streaming</title>
<form id="f"><input id="q" size="60" value="Why is the sky blue?"><button>Ask</button></form>
<p id="out" style="white-space: pre-wrap"></p><p id="meta" style="color: grey"></p>
<script>
f.onsubmit = (e) => {
  e.preventDefault(); out.textContent = ""; meta.textContent = "";
  const events = new EventSource("/chat?q=" + encodeURIComponent(q.value));
  events.addEventListener("delta", (m) => { out.textContent += JSON.parse(m.data).text; });
  events.addEventListener("restart", () => { out.textContent = ""; });
  events.addEventListener("done", (m) => {
    const d = JSON.parse(m.data);
    meta.textContent = `${d.usage.output_tokens} tokens, first after ${d.first_token_s} s`;
    events.close();
  });
  events.addEventListener("error", (m) => {
    meta.textContent = m.data ? JSON.parse(m.data).message : "connection lost";
    events.close();
  });
};
</script>
"""


def make_app(client: Client, config: str = "default") -> WSGIApp:
    """The WSGI app, streaming answers from `client` with the model config `config`."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/":
            return _respond(start_response, "200 OK", "text/html; charset=utf-8", PAGE)
        if path != "/chat":
            return _respond(start_response, "404 Not Found", "text/plain", "not found")
        question = parse_qs(environ.get("QUERY_STRING", "")).get("q", [""])[0].strip()
        if not question:
            return _respond(start_response, "400 Bad Request", "text/plain", "ask with ?q=...")
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
        try:
            events = client.stream(messages, config=config, metadata={"prompt": "example-chat"})
        except PromptkitError as error:
            body = json.dumps({"type": type(error).__name__, "message": str(error)})
            return _respond(start_response, "400 Bad Request", "application/json", body)
        return wsgi_sse(start_response, events)

    return app


def _respond(start_response: Callable[..., Any], status: str, kind: str, text: str) -> list[bytes]:
    body = text.encode()
    start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body)))])
    return [body]


class ThreadingServer(ThreadingMixIn, WSGIServer):
    """One thread per request, so a long stream does not hold up the next visitor."""

    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


def serve(app: WSGIApp, port: int = 8000) -> ThreadingServer:
    """A server for `app` on 127.0.0.1 (port 0 picks a free one); call serve_forever()."""
    server = make_server("127.0.0.1", port, app, ThreadingServer, QuietHandler)
    assert isinstance(server, ThreadingServer)
    return server


def main() -> None:
    config = ModelConfig(
        name="default",
        model=os.environ.get("EXAMPLE_MODEL", "gpt-4o-mini"),
        max_tokens=400,
    )
    with CallLog([JSONLSink("calls.jsonl")]) as log, Client([config], hooks=[log]) as client:
        server = serve(make_app(client), int(os.environ.get("EXAMPLE_PORT", "8000")))
        print(f"serving on http://127.0.0.1:{server.server_port}", file=sys.stderr)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()


if __name__ == "__main__":
    main()
