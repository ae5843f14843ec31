"""Who may read the dashboard: a token beyond loopback, and only the names it is served under.

The browser opens ``/?token=T`` once; the answer sets an HttpOnly cookie so the
page's own requests (layout, callbacks, bundles) carry it.  Scripts can send the
``X-Sandbox-Token`` header or ``Authorization: Bearer T`` instead.  Anything else: 403.

A loopback dashboard has no token, so a page on another site could rebind its own name to
127.0.0.1 and read the findings from the operator's browser (DNS rebinding): every request must
name the server by an address it is bound to (Host, else 421), and a request that changes
something must come from such a page (Origin, else 403).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from urllib.parse import urlsplit

from flask import Flask, Response, abort, g, request

TOKEN_PARAM = "token"
TOKEN_HEADER = "X-Sandbox-Token"
TOKEN_COOKIE = "sandbox_token"
TOKEN_BYTES = 24  # 192 bits from secrets: not guessable over a bench network


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})  # bound to every address: reached under any name
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # read-only: a cross-origin page cannot read the answer


def check_token(token: str | None) -> None:
    """An empty or blank token would leave the dashboard open: refuse it (ValueError, one line)."""
    if token is not None and not token.strip():
        raise ValueError("the dashboard token is empty: give a non-empty --token (or SANDBOX_DASH_TOKEN), "
                         "or none to have one made up")


def server_names(bound: str) -> frozenset[str] | None:
    """The host names a browser may use for a server bound to ``bound``: the loopback names and the
    bound address itself; None for a wildcard bind (any name reaches it, and a token guards it)."""
    bound = bound.strip("[]").lower()
    return None if bound in WILDCARD_HOSTS else LOOPBACK_NAMES | {bound}


def _host_name(host: str) -> str:
    """``host`` of a Host header value ``host[:port]`` or ``[v6]:port``, lower case."""
    if host.startswith("["):
        return host[1: host.find("]")].lower() if "]" in host else ""
    return (host.rsplit(":", 1)[0] if host.count(":") == 1 else host).lower()


def require_known_host(server: Flask, names: frozenset[str] | None) -> None:
    """Refuse requests that name another host (421) and changes from another origin (403)."""

    @server.before_request
    def _check_host() -> None:
        host = _host_name(request.host)
        if names is not None and host not in names:
            abort(421)
        origin = request.headers.get("Origin")
        if request.method not in SAFE_METHODS and origin is not None:
            parts = urlsplit(origin)
            allowed = names if names is not None else {host}  # wildcard bind: same origin only
            if parts.scheme not in ("http", "https") or (parts.hostname or "") not in allowed:
                abort(403)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _presented() -> tuple[str, bool]:
    """The token the request carries, and whether it came as a query parameter."""
    if request.args.get(TOKEN_PARAM):
        return request.args[TOKEN_PARAM], True
    if request.headers.get(TOKEN_HEADER):
        return request.headers[TOKEN_HEADER], False
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth[7:], False
    return request.cookies.get(TOKEN_COOKIE, ""), False


def require_token(server: Flask, token: str) -> None:
    """Refuse every request to ``server`` without ``token`` (constant-time compare)."""
    check_token(token)
    expected = token.encode()

    @server.before_request
    def _check() -> None:
        given, from_query = _presented()
        if not hmac.compare_digest(given.encode(), expected):
            abort(403)
        g.sandbox_token_from_query = from_query

    @server.after_request
    def _remember(response: Response) -> Response:
        if g.get("sandbox_token_from_query"):  # only ever set after a successful check
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict")
        return response
