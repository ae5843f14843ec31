"""``sandbox``: index run folders, replay captures, open the dashboard, run the demo.

Exit status: 0 clean, 1 suspected leak (a high or critical finding), 2 bad input or usage,
3 inconclusive (part of the traffic could not be examined), 70 internal error.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

EXIT_CLEAN, EXIT_LEAK, EXIT_BAD_INPUT = 0, 1, 2
EXIT_INTERNAL_ERROR = 70  # EX_SOFTWARE: a crash must never read as "leak" (1) or "clean" (0)
REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = REPO_ROOT / "captures" / "demo"

EPILOG = """\
examples:
  sandbox index RUN_DIR
  sandbox replay capture.pcapng --run RUN_DIR --report out.json --junit out.xml --html out.html
  sandbox replay ring_*.pcapng --run RUN_A --run RUN_B --tls-keylog keys.log --allow lims.lab.example
  sandbox dash --db store.sqlite
  sandbox demo

exit status: 0 clean, 1 suspected leak (any high or critical finding), 2 bad input or usage,
             3 inconclusive (no high finding, but part of the traffic could not be examined: an
             unknown link type, a decoding limit on outbound data; the report says what and how
             much), 70 internal error. A leak wins over inconclusive.
"""


class BadInput(Exception):
    """Input the user must fix: one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sandbox", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Instrument traffic sandbox: find the run data a sequencer sends out, over the network, "
                    "USB or serial lines, even compressed, encoded, chunked or reverse-complemented.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ix = sub.add_parser("index", help="build (and cache) the index of a run folder and summarise it",
                        description="Index a run folder (Illumina or Nanopore, partial folders welcome). The "
                                    "index is cached in the rig's own cache ($SANDBOX_CACHE_DIR, else "
                                    "$XDG_CACHE_HOME/instrument-sandbox/index; never in the run folder, which "
                                    "the instrument writes), authenticated with the rig's key, and reused "
                                    "while the folder is unchanged.")
    ix.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", type=Path)
    ix.add_argument("--cache-dir", type=Path,
                    help="cache run indexes here instead of the rig's cache (not inside a run folder)")
    ix.add_argument("--quiet", action="store_true", help="no progress bar")

    rp = sub.add_parser("replay", help="replay saved captures against run folders; write reports",
                        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
                        description="Replay pcap/pcapng captures (optionally gzip-compressed) through the same "
                                    "core a live session uses, and report every piece of run data that left "
                                    "the instrument.")
    rp.add_argument("captures", nargs="+", metavar="CAPTURE", type=Path)
    rp.add_argument("--run", dest="runs", action="append", required=True, type=Path, metavar="RUN_DIR",
                    help="run folder the instrument produced (repeat for several)")
    rp.add_argument("--report", type=Path, help="write the JSON report (schema sandbox.report/1) here")
    rp.add_argument("--junit", type=Path, help="write JUnit XML here (one test case per finding)")
    rp.add_argument("--html", type=Path, help="write a self-contained HTML report here")
    rp.add_argument("--tls-keylog", type=Path, metavar="KEYLOG",
                    help="NSS key log (SSLKEYLOGFILE) to decrypt TLS; keys inside pcapng are used anyway")
    rp.add_argument("--db", type=Path,
                    help="SQLite store for the dashboard, replaced if it exists (default: a temporary one)")
    rp.add_argument("--allow", nargs="+", action="extend", default=[], metavar="HOST",
                    help="bench allow-list: host names, IPs or CIDRs the instrument may talk to")
    rp.add_argument("--instrument", nargs="+", action="extend", default=[], metavar="CIDR",
                    help="addresses of the instrument side (default: whoever opens each connection)")
    rp.add_argument("--cache-dir", type=Path,
                    help="cache run indexes here instead of the rig's cache (not inside a run folder)")
    rp.add_argument("--jobs", type=int, choices=(1, 2), default=None,
                    help="processes: 2 decodes and matches beside reading (default: 2 for captures over 4 MB)")
    rp.add_argument("--dash", action="store_true", help="open the dashboard on the replay's store when done")
    rp.add_argument("--port", type=int, default=8050, help="dashboard port with --dash (default 8050)")
    rp.add_argument("--quiet", action="store_true", help="no progress bar, no summary table")

    ds = sub.add_parser("dash", help="serve the dashboard over a store",
                        description="Serve the live dashboard over a store. Binds to 127.0.0.1 unless --host "
                                    "says otherwise; any other address requires a token.")
    ds.add_argument("--db", type=Path, required=True)
    ds.add_argument("--host", default="127.0.0.1")
    ds.add_argument("--port", type=int, default=8050)
    ds.add_argument("--token", default=os.environ.get("SANDBOX_DASH_TOKEN"),
                    help="access token (required when --host is not loopback; default: $SANDBOX_DASH_TOKEN, "
                         "else generated; never empty)")

    dm = sub.add_parser("demo", help="replay the built-in demo capture against the demo run folder",
                        description="Replay captures/demo (made by the project's simulator) and print the "
                                    "findings. Reports go to out/demo/.")
    dm.add_argument("--out", type=Path, default=REPO_ROOT / "out" / "demo")
    dm.add_argument("--dash", action="store_true", help="open the dashboard when done")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "index":
            return cmd_index(args)
        if args.command == "replay":
            return cmd_replay(args)
        if args.command == "dash":
            return cmd_dash(args)
        if args.command == "demo":
            return cmd_demo(args)
    except BadInput as exc:
        print(f"sandbox: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("sandbox: interrupted", file=sys.stderr)
        return 130
    except Exception:
        import traceback

        traceback.print_exc()
        print("sandbox: internal error (a bug: please report it with the traceback above)", file=sys.stderr)
        return EXIT_INTERNAL_ERROR
    return EXIT_BAD_INPUT


def _check_run_dirs(paths: list[Path]) -> None:
    for path in paths:
        if not path.is_dir():
            raise BadInput(f"run folder {path} does not exist or is not a folder")


def cmd_index(args: argparse.Namespace) -> int:
    from sandbox.index import build_index
    from sandbox.runs import RunFolderError

    _check_run_dirs(args.run_dirs)
    for run_dir in args.run_dirs:
        try:
            index = build_index(run_dir, cache_dir=args.cache_dir, progress=not args.quiet)
        except RunFolderError as exc:
            raise BadInput(str(exc)) from exc
        print(index.summary())
    return EXIT_CLEAN


def cmd_replay(args: argparse.Namespace) -> int:
    from sandbox.captures import CaptureError
    from sandbox.replay import replay
    from sandbox.report import exit_code, write_html, write_json, write_junit
    from sandbox.runs import RunFolderError
    from sandbox.store import Store
    from sandbox.summary import print_summary

    _check_run_dirs(args.runs)
    for cap in args.captures:
        if not cap.is_file():
            raise BadInput(f"capture {cap} does not exist or is not a file")
    if args.tls_keylog and not args.tls_keylog.is_file():
        raise BadInput(f"TLS key log {args.tls_keylog} does not exist")
    for out in (args.report, args.junit, args.html, args.db):
        if out is not None and not out.parent.resolve().is_dir():
            raise BadInput(f"cannot write {out}: folder {out.parent} does not exist")
    db_path = args.db
    if db_path is None:
        import tempfile

        db_path = Path(tempfile.mkdtemp(prefix="sandbox-")) / "store.sqlite"
    for stale in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        stale.unlink(missing_ok=True)  # a store holds one session; a replay starts a new one
    store = Store(db_path)
    bar = _progress_bar(sum(c.stat().st_size for c in args.captures), args.quiet)
    try:
        result = replay(args.captures, args.runs, keylog=args.tls_keylog, allow=args.allow,
                        instrument=args.instrument or None, store=store, cache_dir=args.cache_dir,
                        progress=bar.update_to if bar else None, index_progress=not args.quiet, jobs=args.jobs)
    except (CaptureError, RunFolderError) as exc:
        raise BadInput(str(exc)) from exc
    finally:
        if bar:
            bar.close()
        store.close()
    report = result.report
    if args.report:
        write_json(report, args.report)
    if args.junit:
        write_junit(report, args.junit)
    if args.html:
        write_html(report, args.html)
    if not args.quiet:
        print_summary(report, sys.stdout)
        print(f"store: {db_path}")
    if args.dash:
        from dashboards import serve

        serve(str(db_path), port=args.port, open_browser=False)
    return exit_code(report)


def cmd_dash(args: argparse.Namespace) -> int:
    from dashboards import serve
    from dashboards.auth import check_token

    if not args.db.is_file():
        raise BadInput(f"store {args.db} does not exist (create one with: sandbox replay ... --db {args.db})")
    try:
        check_token(args.token)
    except ValueError as exc:
        raise BadInput(str(exc)) from exc
    serve(str(args.db), host=args.host, port=args.port, token=args.token)
    return EXIT_CLEAN


def cmd_demo(args: argparse.Namespace) -> int:
    from sandbox.simulate import ensure_demo

    run_dir, capture = ensure_demo(DEMO_DIR)
    args.out.mkdir(parents=True, exist_ok=True)
    argv = ["replay", str(capture), "--run", str(run_dir), "--report", str(args.out / "report.json"),
            "--junit", str(args.out / "report.xml"), "--html", str(args.out / "report.html"),
            "--db", str(args.out / "store.sqlite"), "--allow", "lims.lab.example", "198.51.100.10",
            "--cache-dir", str(args.out / "index-cache")]
    if args.dash:
        argv.append("--dash")
    status = main(argv)
    if status not in (EXIT_CLEAN, EXIT_LEAK):
        return status
    print(f"reports: {args.out}/report.json, report.xml, report.html")
    print("demo: the simulated instrument leaks on purpose; `sandbox replay` exits 1 on such a capture.")
    return EXIT_CLEAN  # the demo ran as intended


class _Bar:
    def __init__(self, total: int):
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="B", unit_scale=True, desc="replay", file=sys.stderr)

    def update_to(self, position: int) -> None:
        self.bar.update(max(0, position - self.bar.n))

    def close(self) -> None:
        self.bar.close()


def _progress_bar(total: int, quiet: bool) -> _Bar | None:
    return None if quiet or not sys.stderr.isatty() and os.environ.get("SANDBOX_PROGRESS") != "1" else _Bar(total)


if __name__ == "__main__":
    sys.exit(main())
