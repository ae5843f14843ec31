"""``python -m dashboards --db store.sqlite [--host H] [--port N] [--token T] [--open]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dashboards import serve
from dashboards.auth import check_token


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dashboards", description="Serve the sandbox dashboard over a store.")
    p.add_argument("--db", type=Path, required=True, help="SQLite store written by `sandbox replay/watch --db`")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1; others need a token)")
    p.add_argument("--port", type=int, default=8050, help="port (default 8050)")
    p.add_argument("--token", help="access token (made up and printed when binding beyond loopback)")
    p.add_argument("--open", action="store_true", help="open a browser on the dashboard")
    args = p.parse_args(argv)
    if not args.db.is_file():
        print(f"error: store {args.db} does not exist", file=sys.stderr)
        return 2
    try:
        check_token(args.token)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    serve(str(args.db), host=args.host, port=args.port, token=args.token, open_browser=args.open)
    return 0


if __name__ == "__main__":
    sys.exit(main())
