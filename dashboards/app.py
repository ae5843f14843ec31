"""``create_app`` builds the Dash app over one store; ``serve`` runs it (127.0.0.1 unless told)."""

from __future__ import annotations

import threading
import webbrowser
from pathlib import Path

import dash
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from dashboards.auth import (
    check_token,
    is_loopback,
    new_token,
    require_known_host,
    require_token,
    server_names,
)
from dashboards.callbacks import register
from dashboards.layout import INDEX, page
from dashboards.queries import Reader


def create_app(db_path: str | Path, token: str | None = None, host: str = "127.0.0.1") -> dash.Dash:
    """A Dash app reading the store at ``db_path`` (a SQLite file or a PostgreSQL URL) read-only,
    answering only under the names of ``host`` (the bind address); every request needs ``token``
    when one is given (an empty one is a ValueError)."""
    check_token(token)
    reader = Reader(db_path)
    app = dash.Dash(
        __name__, title=f"Sandbox · {reader.label.rsplit('/', 1)[-1]}", update_title=None,
        serve_locally=True, include_assets_files=False, compress=False,
    )
    app.index_string = INDEX
    app.layout = page(reader.label)
    register(app, reader)
    require_known_host(app.server, server_names(host))
    if token is not None:
        require_token(app.server, token)
    app.server.config["SANDBOX_READER"] = reader
    return app


class _QuietHandler(WSGIRequestHandler):
    """No access log line per request: the page polls every second and would drown the terminal."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def _url(host: str, port: int, token: str | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def make_dashboard_server(db_path: str | Path, host: str = "127.0.0.1", port: int = 8050,
                          token: str | None = None) -> tuple[BaseWSGIServer, str]:
    """A bound (not yet serving) threaded WSGI server and the URL to open.

    Off loopback a token is required: one is made up when none is given; an empty one is refused.
    """
    check_token(token)
    if token is None and not is_loopback(host):
        token = new_token()
    app = create_app(db_path, token=token, host=host)
    server = make_server(host, port, app.server, threaded=True, request_handler=_QuietHandler)
    server.dash_app = app  # type: ignore[attr-defined]
    return server, _url(host, server.server_port, token)


def serve(db_path: str, host: str = "127.0.0.1", port: int = 8050, token: str | None = None,
          open_browser: bool = False) -> None:
    """Serve until interrupted (Ctrl-C)."""
    server, url = make_dashboard_server(db_path, host, port, token)
    print(f"dashboard: {url}  (Ctrl-C to stop)", flush=True)
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.dash_app.server.config["SANDBOX_READER"].close()
