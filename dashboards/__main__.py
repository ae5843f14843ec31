"""``python -m dashboards --db store.sqlite [--host H] [--port N] [--token T] [--open]``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dashboards import serve
from dashboards.auth import check_token
from sandbox.stores import StoreError, is_url


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dashboards", description="Serve the sandbox dashboard over a store.")
    p.add_argument("--db", default=os.environ.get("SANDBOX_DB"),
                   help="the store `sandbox replay/watch --db` write: a SQLite file or a postgresql:// URL "
                        "(default: $SANDBOX_DB, which keeps a password off the command line)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1; others need a token)")
    p.add_argument("--port", type=int, default=8050, help="port (default 8050)")
    p.add_argument("--token", help="access token (made up and printed when binding beyond loopback)")
    p.add_argument("--open", action="store_true", help="open a browser on the dashboard")
    args = p.parse_args(argv)
    if args.db is None:
        print("error: which store? give --db or set $SANDBOX_DB", file=sys.stderr)
        return 2
    if not is_url(args.db) and not Path(args.db).is_file():
        print(f"error: store {args.db} does not exist", file=sys.stderr)
        return 2
    try:
        check_token(args.token)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        serve(args.db, host=args.host, port=args.port, token=args.token, open_browser=args.open)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
