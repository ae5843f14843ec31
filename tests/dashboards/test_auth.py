"""Token enforcement on a real server socket (loopback): without the token every path is 403."""

from __future__ import annotations

import threading

import pytest
import requests

from dashboards.app import make_dashboard_server
from dashboards.auth import TOKEN_COOKIE, TOKEN_HEADER, is_loopback

TOKEN = "s3cret-bench-token"


@pytest.fixture
def running(small_store):
    servers = []

    def start(token: str | None = TOKEN, host: str = "127.0.0.1"):
        server, url = make_dashboard_server(small_store.path, host=host, port=0, token=token)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return server, url

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_token_required_everywhere(running):
    server, url = running()
    assert url.endswith(f"?token={TOKEN}")
    base = f"http://127.0.0.1:{server.server_port}"
    for path in ("/", "/_dash-layout", "/_dash-dependencies", "/_dash-component-suites/dash/dcc/dcc.js"):
        assert requests.get(base + path, timeout=5).status_code == 403, path
    assert requests.get(base + "/?token=wrong", timeout=5).status_code == 403
    assert requests.get(base + "/", headers={TOKEN_HEADER: "wrong"}, timeout=5).status_code == 403
    wrong = requests.get(base + "/?token=wrong", timeout=5)
    assert TOKEN_COOKIE not in wrong.cookies  # a failed try never gets the cookie
    assert requests.post(base + "/_dash-update-component", json={}, timeout=5).status_code == 403


def test_token_by_query_header_bearer_and_cookie(running):
    server, _ = running()
    base = f"http://127.0.0.1:{server.server_port}"
    first = requests.get(f"{base}/?token={TOKEN}", timeout=5)
    assert first.status_code == 200 and "_dash-config" in first.text
    assert first.cookies.get(TOKEN_COOKIE) == TOKEN
    assert requests.get(base + "/_dash-layout", headers={TOKEN_HEADER: TOKEN}, timeout=5).status_code == 200
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert requests.get(base + "/_dash-dependencies", headers=bearer, timeout=5).status_code == 200
    with requests.Session() as browser:  # what the page's own requests do after the first load
        assert browser.get(f"{base}/?token={TOKEN}", timeout=5).status_code == 200
        assert browser.get(base + "/_dash-layout", timeout=5).status_code == 200


def test_loopback_without_token_is_open(running):
    server, url = running(token=None)
    assert url == f"http://127.0.0.1:{server.server_port}/"
    assert requests.get(url, timeout=5).status_code == 200


def test_a_token_is_made_up_off_loopback(small_store, monkeypatch):
    # Bind nothing beyond loopback in tests: check the decision, then bind 127.0.0.2 (still loopback)
    # the way a non-loopback address would be, with the generated token enforced.
    monkeypatch.setattr("dashboards.app.is_loopback", lambda host: False)
    server, url = make_dashboard_server(small_store.path, host="127.0.0.2", port=0)
    try:
        assert "?token=" in url and len(url.split("?token=")[1]) >= 32
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        base = f"http://127.0.0.2:{server.server_port}/"
        assert requests.get(base, timeout=5).status_code == 403
        assert requests.get(url, timeout=5).status_code == 200
    finally:
        server.shutdown()
        server.server_close()


def test_is_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.20") and not is_loopback("bench-rig")


@pytest.mark.browser
def test_browser_page_works_with_the_token_link(running, dash_br):
    """The page's own requests (bundles, layout, callbacks) ride on the cookie the token link sets."""
    server, url = running()
    dash_br.driver.get(f"http://127.0.0.1:{server.server_port}/")
    assert "403" in dash_br.driver.page_source or "Forbidden" in dash_br.driver.page_source
    dash_br.reset_log_timestamp()  # that refusal was the point; count only what follows
    dash_br.driver.get(url)
    dash_br.wait_for_text_to_equal("#verdict-text", "SUSPECTED LEAK", timeout=30)
    dash_br.wait_for_text_to_equal("#findings-count", "4 finding(s)", timeout=30)
    # the refused page's own /favicon.ico request may be logged late, on a loaded machine after the reset
    late_refusal = "/favicon.ico - Failed to load resource: the server responded with a status of 403"
    assert [e for e in dash_br.get_logs() if late_refusal not in e["message"]] == []
