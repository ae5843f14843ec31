"""Token check for a dashboard bound beyond loopback.

The browser opens ``/?token=T`` once; the answer sets an HttpOnly cookie so the
page's own requests (layout, callbacks, bundles) carry it.  Scripts can send the
``X-Sandbox-Token`` header or ``Authorization: Bearer T`` instead.  Anything else: 403.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets

from flask import Flask, Response, abort, g, request

TOKEN_PARAM = "token"
TOKEN_HEADER = "X-Sandbox-Token"
TOKEN_COOKIE = "sandbox_token"
TOKEN_BYTES = 24  # 192 bits from secrets: not guessable over a bench network


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


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
