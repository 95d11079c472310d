"""Running `promptkit view`: the bind check (loopback, or a token), then uvicorn."""

from __future__ import annotations

import ipaddress
import threading
import webbrowser

from promptkit.config import Settings
from promptkit.errors import UsageError

__all__ = ["check_bind", "is_loopback", "serve"]


def is_loopback(host: str) -> bool:
    """Whether `host` is a loopback address or `localhost`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond this machine without a token (UsageError)."""
    if not is_loopback(host) and not token:
        raise UsageError(f"refusing to listen on {host}, beyond this machine, without a token: "
                         f"pass --token TOKEN (or set PROMPTKIT_VIEW_TOKEN)")


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 8765,
          token: str | None = None, actor: str | None = None,
          open_browser: bool = False) -> None:
    """Serve the app until interrupted; pages are imported in the background once it listens."""
    check_bind(host, token)
    import uvicorn

    from promptkit.view.app import create_app, warm_up

    app = create_app(settings, token=token, actor=actor)
    address = f"http://{host if ':' not in host else f'[{host}]'}:{port}/"
    print(f"promptkit view on {address}" + (f"?token={token}" if token else ""), flush=True)
    threading.Thread(target=warm_up, name="promptkit-view-warm-up", daemon=True).start()
    if open_browser:
        threading.Timer(0.5, webbrowser.open, [address + (f"?token={token}" if token else "")]
                        ).start()
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
