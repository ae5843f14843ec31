"""``sandbox``: index run folders, replay captures, open the dashboard, run the demo.

Exit status: 0 clean, 1 suspected leak (a high or critical finding), 2 bad input or usage,
3 inconclusive (part of the traffic could not be examined), 70 internal error.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

from sandbox.safetext import MAX_SHOWN, safe_text

EXIT_CLEAN, EXIT_LEAK, EXIT_BAD_INPUT = 0, 1, 2
EXIT_INTERNAL_ERROR = 70  # EX_SOFTWARE: a crash must never read as "leak" (1) or "clean" (0)
REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = REPO_ROOT / "captures" / "demo"
DEFAULT_SCENARIO = REPO_ROOT / "captures" / "scenarios" / "demo.toml"
DASH_START_S = 60.0   # the dashboard imports Dash in a few seconds; a loaded 2-core box may take longer

EPILOG = """\
examples:
  sandbox index RUN_DIR
  sandbox replay capture.pcapng --run RUN_DIR --report out.json --junit out.xml --html out.html
  sandbox replay ring_*.pcapng --run RUN_A --run RUN_B --tls-keylog keys.log --allow lims.lab.example
  sandbox watch --run RUN_DIR --follow live.pcapng --db store.sqlite --dash
  sandbox watch --run RUN_DIR --mode regular --listen 0.0.0.0:8080 --iface eth1 --allow-file bench.toml --dash
  sandbox ca --install-help
  sandbox replay capture.pcapng --run RUN_DIR --profile acceptance.toml --sarif out.sarif
  sandbox report --db store.sqlite --html out.html --junit out.xml --sarif out.sarif
  sandbox bundle store.sqlite evidence.tar.zst
  sandbox replay --bundle evidence.tar.zst
  sandbox dash --db store.sqlite
  sandbox demo

exit status: 0 clean, 1 suspected leak (any high or critical finding), 2 bad input or usage,
             3 inconclusive (no high finding, but part of the traffic could not be examined: an
             unknown link type, a decoding limit on outbound data; the report says what and how
             much), 70 internal error. A leak wins over inconclusive.
"""

WATCH_EPILOG = """\
examples:
  sandbox watch --run RUN_DIR --mode regular --listen 0.0.0.0:8080 --iface eth1 --db store.sqlite --dash
  sandbox watch --run RUN_DIR --mode transparent --iface eth1 --allow-file bench.toml --block
  sandbox watch --run RUN_DIR --mode wireguard --listen 0.0.0.0:51820 --iface eth0
  sandbox watch --run RUN_DIR --follow /var/tmp/bench.pcapng --db store.sqlite --dash
  sandbox watch --run RUN_DIR --follow live.pcapng --duration 600 --report out.json --junit out.xml
  sandbox watch --run RUN_DIR --serial /dev/ttyUSB0:/dev/ttyS1@115200,8N1 --record captures/bench1/ --dash
  sandbox watch --run RUN_DIR --serial /dev/serial/by-id/usb-FTDI_A1:/dev/ttyS0@921600,8N1,rtscts \\
                --serial ttyUSB1:ttyUSB2@9600,7E1,xonxoff --report out.json

exit status: as for replay (0 clean, 1 suspected leak, 2 bad input or a tap that cannot start,
             3 inconclusive, 70 internal error), once the session has ended.
"""


REPORT_EPILOG = """\
examples:
  sandbox report --db store.sqlite --html out.html --junit out.xml --sarif out.sarif --json out.json
  sandbox report --db store.sqlite --profile acceptance.toml --junit out.xml   # re-judge with waivers
  sandbox report --db postgresql://sandbox@labdb/sandbox --session 3f2a... --html out.html   # a fleet store

exit status: as for replay (0 clean, 1 suspected leak, 2 bad input, 3 inconclusive); a session still
             running or interrupted is never clean (its report says so).
"""

BUNDLE_EPILOG = """\
examples:
  sandbox bundle store.sqlite evidence.tar.zst
  sandbox bundle captures/SESSION-20251123-101500 evidence.tar.zst
  sandbox bundle postgresql://sandbox@labdb/sandbox evidence.tar.zst --session 3f2a...   # on the rig that recorded it
  sandbox replay --bundle evidence.tar.zst --run RUN_DIR --report again.json
  mkdir x && tar --zstd -xf evidence.tar.zst -C x && (cd x/sandbox-evidence && sha256sum -c MANIFEST.sha256)
"""


SIMULATE_EPILOG = """\
examples:
  sandbox simulate run out/runs --platform novaseq --samples 4 --reads 2000 --seed 7
  sandbox simulate traffic --scenario captures/scenarios/demo.toml --out out/sim
  sandbox replay out/sim/*.pcapng --run out/sim/run/RUN_ID --allow-file out/sim/bench.toml
"""

DEMO_EPILOG = """\
examples:
  sandbox demo                                        # the default scenario, live, dashboard on :8050
  sandbox demo --scenario captures/scenarios/cloud-sync.toml --pace 3
  sudo .venv/bin/sandbox demo --netns                 # namespaces, transparent mode
  sandbox demo --offline                              # replay the shipped recording instead

exit status: 0 the rig found what the scenario says, 1 it did not (the differences are listed),
             2 bad input or a part of the rig that cannot start, 70 internal error.
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
    rp.add_argument("captures", nargs="*", metavar="CAPTURE", type=Path)
    rp.add_argument("--tls-keylog", type=Path, metavar="KEYLOG",
                    help="NSS key log (SSLKEYLOGFILE) to decrypt TLS; keys inside pcapng are used anyway")
    rp.add_argument("--bundle", type=Path, metavar="BUNDLE",
                    help="replay an evidence bundle (sandbox bundle): its recordings, keys, profile and "
                         "allow-list; the run folders are --run, else the ones the bundle names")
    _session_arguments(rp, default_jobs="2 for captures over 4 MB")
    rp.add_argument("--cluster", metavar="local[:N]|tcp://HOST:PORT",
                    help="replay on Dask workers: a LocalCluster of N processes (default: one per core) or a "
                         "running scheduler (its workers see the same paths). CAPTURE may then be a folder of "
                         "captures; a ring buffer's files stay together; the report is the one a single replay "
                         "gives")
    rp.add_argument("--dash", action="store_true", help="open the dashboard on the replay's store when done")

    wt = sub.add_parser("watch", help="live session: taps record the instrument's traffic, findings as it happens",
                        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=WATCH_EPILOG,
                        description="Run a live session: every tap records the instrument's traffic to "
                                    "RECORD_DIR first, the session follows the recordings through the same core "
                                    "a replay uses, the store (and the dashboard) fill as it happens. Ctrl-C or "
                                    "SIGTERM ends the session: recordings closed, reports written. `sandbox "
                                    "replay RECORD_DIR/*.pcapng` gives the same findings afterwards.")
    from hw.taps import TAP_MODULES

    taps = wt.add_argument_group("taps (at least one)")
    for module in TAP_MODULES:
        module.add_arguments(taps)
    wt.add_argument("--record", type=Path, metavar="RECORD_DIR",
                    help="where the taps' recordings go (default: captures/SESSION-<date>-<time>/)")
    wt.add_argument("--duration", type=float, metavar="SECONDS",
                    help="end the session after this long (default: until Ctrl-C or SIGTERM)")
    _session_arguments(wt, default_jobs="2")
    wt.add_argument("--dash", action="store_true", help="serve the dashboard on the session's store while it runs")

    rep = sub.add_parser("report", help="write the reports of a session from its store (finished or running)",
                         formatter_class=argparse.RawDescriptionHelpFormatter, epilog=REPORT_EPILOG,
                         description="Rebuild a session's reports from its store: the report a finished session "
                                     "wrote, or the report so far of one still running (marked running, never "
                                     "clean) or killed (marked interrupted). --profile re-judges the findings "
                                     "under another acceptance profile (new waivers, another fail rule).")
    rep.add_argument("--db", metavar="PATH|URL", required=True,
                     help="the session's store: a SQLite file or a postgresql:// URL")
    rep.add_argument("--session", metavar="ID",
                     help="which session of a PostgreSQL store (the fleet view lists them; default: the newest)")
    _report_arguments(rep)
    rep.add_argument("--quiet", action="store_true", help="no summary table")

    bd = sub.add_parser("bundle", help="pack a session's evidence: recordings, keys, reports, SHA-256 manifest",
                        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=BUNDLE_EPILOG,
                        description="Write one tar.zst with the session's recordings, TLS key logs, acceptance "
                                    "profile, its reports (JSON, JUnit, SARIF, HTML) and a SHA-256 manifest of "
                                    "it all. `sandbox replay --bundle` reproduces the findings from it (the run "
                                    "folders are not copied: they are the data the rig guards).")
    bd.add_argument("db", metavar="SESSION_OR_DB",
                    help="the session's store (a SQLite file or a postgresql:// URL), or a folder holding "
                         "store.sqlite (a watch session's folder)")
    bd.add_argument("--session", metavar="ID",
                    help="which session of a PostgreSQL store (default: the newest); its recordings must be "
                         "on this machine")
    bd.add_argument("out", type=Path, metavar="OUT.tar.zst")
    bd.add_argument("--quiet", action="store_true", help="no progress bar")

    ds = sub.add_parser("dash", help="serve the dashboard over a store",
                        description="Serve the live dashboard over a store. Binds to 127.0.0.1 unless --host "
                                    "says otherwise; any other address requires a token.")
    ds.add_argument("--db", metavar="PATH|URL", default=os.environ.get("SANDBOX_DB"),
                    help="the store: a SQLite file or a postgresql:// URL (default: $SANDBOX_DB)")
    ds.add_argument("--host", default="127.0.0.1")
    ds.add_argument("--port", type=int, default=8050)
    ds.add_argument("--token", default=os.environ.get("SANDBOX_DASH_TOKEN"),
                    help="access token (required when --host is not loopback; default: $SANDBOX_DASH_TOKEN, "
                         "else generated; never empty)")

    ca = sub.add_parser("ca", help="where the rig's CA is (made on first use) and how to install it",
                        description="The network tap's certificate authority: made on first use (key 0600), "
                                    "trusted by the instrument PC so the rig can read its TLS.")
    ca.add_argument("--ca-dir", type=Path, metavar="DIR",
                    help="the CA folder (default $SANDBOX_CA_DIR or ~/.config/instrument-sandbox/ca)")
    ca.add_argument("--install-help", action="store_true",
                    help="how to install the certificate on a Windows or Linux instrument PC")

    sm = sub.add_parser("simulate", help="the instrument simulator: run folders, and scenario traffic as captures",
                        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=SIMULATE_EPILOG,
                        description="The project's own instrument simulator. `run` writes a run folder (MiSeq, "
                                    "NovaSeq or MinION), `traffic` plays a scenario file offline: the recordings a "
                                    "rig would have made of it, and its truth (what a correct report says).")
    ssub = sm.add_subparsers(dest="simulate", required=True, metavar="WHAT")
    sr = ssub.add_parser("run", help="write a simulated run folder",
                         description="Write a simulated run folder under OUT_DIR (byte-identical per seed): "
                                     "miseq (BCL, FASTQ.gz, BAM, InterOp, sheet v2), novaseq (CBCL, FASTQ.gz, BAM), "
                                     "nanopore (POD5, FASTQ, BAM, sequencing summary, sample sheet).")
    sr.add_argument("out", type=Path, metavar="OUT_DIR")
    sr.add_argument("--platform", choices=("miseq", "novaseq", "nanopore"), default="miseq")
    sr.add_argument("--samples", type=int, default=3, help="samples (barcodes on nanopore), default 3")
    sr.add_argument("--reads", type=int, default=500, help="reads per sample, default 500")
    sr.add_argument("--seed", type=int, default=0)
    st = ssub.add_parser("traffic", help="write a scenario's traffic as captures, with its truth",
                         formatter_class=argparse.RawDescriptionHelpFormatter, epilog=SIMULATE_EPILOG,
                         description="Play a scenario offline: write net.pcapng, serial.pcapng and usb.pcapng "
                                     "(as the rig's taps record) and truth.json into OUT; make the run folder "
                                     "the scenario names first unless --run gives one it made before.")
    st.add_argument("--scenario", type=Path, required=True, metavar="FILE.toml")
    st.add_argument("--out", type=Path, metavar="OUT", help="default out/simulate/SCENARIO_NAME/")
    st.add_argument("--run", type=Path, metavar="RUN_DIR", help="a run folder the simulator made for this scenario")

    dm = sub.add_parser("demo", help="play a misbehaving instrument through a live rig (what `make demo` runs)",
                        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=DEMO_EPILOG,
                        description="The live demo: make the scenario's run folder, start the rig (a regular "
                                    "proxy on loopback, a serial bridge on PTYs; --netns: namespaces and "
                                    "transparent mode), play the scenario through it with real clients, show the "
                                    "findings live on the dashboard and hold them to the scenario's truth. With "
                                    "a terminal the dashboard stays up until Ctrl-C; without one the demo exits "
                                    "0 when the findings match the truth, 1 when not.")
    dm.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO, metavar="FILE.toml",
                    help="what the instrument does (default captures/scenarios/demo.toml)")
    dm.add_argument("--record", type=Path, metavar="RECORD_DIR",
                    help="the session's folder (default captures/SESSION-<date>-<time>/)")
    dm.add_argument("--netns", action="store_true",
                    help="(root) a bench of network namespaces, the rig in transparent mode")
    dm.add_argument("--pace", type=float, metavar="SECONDS",
                    help="pause between legs (default 1.5 with a terminal, 0 without)")
    dm.add_argument("--port", type=int, default=8050, help="dashboard port (a free one when taken)")
    dm.add_argument("--no-dash", action="store_true", help="no dashboard")
    dm.add_argument("--ca-dir", type=Path, default=REPO_ROOT / "out" / "demo" / "ca",
                    help="the rig's CA for the demo (default out/demo/ca)")
    dm.add_argument("--cache-dir", type=Path, default=REPO_ROOT / "out" / "demo" / "index-cache",
                    help="run index cache (default out/demo/index-cache)")
    dm.add_argument("--offline", action="store_true",
                    help="replay the shipped recording (captures/demo) instead of a live rig")
    dm.add_argument("--out", type=Path, default=REPO_ROOT / "out" / "demo", help="--offline: where reports go")
    dm.add_argument("--dash", action="store_true", help="--offline: open the dashboard when done")
    dm.add_argument("--quiet", action="store_true", help="no progress, only the summary")
    return p


def _report_arguments(p: argparse.ArgumentParser) -> None:
    """What replay, watch and report share: the report files and the acceptance profile."""
    p.add_argument("--report", "--json", dest="report", type=Path, metavar="OUT.json",
                   help="write the JSON report (schema sandbox.report/1) here")
    p.add_argument("--junit", type=Path, metavar="OUT.xml",
                   help="write JUnit XML here (one test case per acceptance check)")
    p.add_argument("--sarif", type=Path, metavar="OUT.sarif",
                   help="write SARIF 2.1.0 here (one result per finding, located in the capture)")
    p.add_argument("--html", type=Path, metavar="OUT.html",
                   help="write a self-contained HTML report here (opens with no network)")
    p.add_argument("--profile", type=Path, metavar="PROFILE.toml",
                   help="acceptance profile: allowed destinations, expected telemetry, what fails the test, "
                        "channels in scope, waivers (default: any high or critical finding fails)")


def _session_arguments(p: argparse.ArgumentParser, default_jobs: str) -> None:
    """What replay and watch share: run folders, reports, store, policy, workers."""
    p.add_argument("--run", dest="runs", action="append", type=Path, metavar="RUN_DIR",
                   help="run folder the instrument produced (repeat for several; required)")
    _report_arguments(p)
    p.add_argument("--db", metavar="PATH|URL", default=os.environ.get("SANDBOX_DB"),
                   help="store for the dashboard and `sandbox report`: a SQLite file, replaced if it exists and "
                        "refused while another session uses it, or a postgresql://USER@HOST/DB URL a lab's rigs "
                        "share (password from ~/.pgpass or PGPASSWORD; default: $SANDBOX_DB, else for replay a "
                        "temporary SQLite file removed at exit, for watch RECORD_DIR/store.sqlite)")
    p.add_argument("--rig", default=os.environ.get("SANDBOX_RIG") or socket.gethostname(), metavar="NAME",
                   help="this rig's name in the store, for the fleet view (default: $SANDBOX_RIG, else the host name)")
    p.add_argument("--instrument-name", metavar="NAME",
                   help="the instrument under test, for the fleet view (default: the instrument serial the run "
                        "folders name)")
    p.add_argument("--allow", nargs="+", action="extend", default=[], metavar="HOST",
                   help="bench allow-list: host names, IPs or CIDRs the instrument may talk to")
    p.add_argument("--allow-file", type=Path, metavar="TOML",
                   help='bench allow-list in a TOML file: allow = ["lims.lab.example", "10.0.0.0/24"]')
    p.add_argument("--instrument", nargs="+", action="extend", default=[], metavar="CIDR", type=_instrument_entry,
                   help="addresses of the instrument side; !CIDR or !ADDR:PORT for addresses or endpoints that "
                        "never are (given alone: every other address is); link:IFINDEX for the interface of a "
                        "Linux cooked v2 recording that faces the instrument (what arrived there is the "
                        "instrument's, whatever address it claims: a packet forged in another's name is not "
                        "believed) (default: in a live session, the networks on --iface but the rig's own "
                        "addresses, and the link it records; on loopback every endpoint but the proxy's; else "
                        "whoever opens each connection, a guess a forged SYN or datagram can steer)")
    p.add_argument("--cache-dir", type=Path,
                   help="cache run indexes here instead of the rig's cache (not inside a run folder)")
    p.add_argument("--jobs", type=int, choices=(1, 2), default=None,
                   help=f"processes: 2 decodes and matches beside reading (default: {default_jobs})")
    p.add_argument("--port", type=int, default=8050, help="dashboard port with --dash (default 8050)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no summary table")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "allow_file", None) is not None:
            from sandbox.allowfile import AllowFileError, read_allow_file

            try:
                args.allow = [*args.allow, *read_allow_file(args.allow_file)]
            except AllowFileError as exc:
                raise BadInput(str(exc)) from None
        if args.command == "index":
            return cmd_index(args)
        if args.command in ("replay", "watch"):
            from sandbox.analyzer import reuse_freed_memory

            reuse_freed_memory()    # the session's process joins and pickles body pieces too
            return cmd_replay(args) if args.command == "replay" else cmd_watch(args)
        if args.command == "report":
            return cmd_report(args)
        if args.command == "bundle":
            return cmd_bundle(args)
        if args.command == "dash":
            return cmd_dash(args)
        if args.command == "demo":
            return cmd_demo(args)
        if args.command == "simulate":
            return cmd_simulate(args)
        if args.command == "ca":
            return cmd_ca(args)
    except BadInput as exc:
        # messages name files the instrument wrote (its run folder): escaped like any traffic string
        print(f"sandbox: error: {safe_text(str(exc), limit=MAX_SHOWN)}", file=sys.stderr)
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


def _check_run_dirs(paths: list[Path] | None) -> None:
    if not paths:
        raise BadInput("no run folder: give --run RUN_DIR (the run folder the instrument produced)")
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


def _check_outputs(*outputs: Path | None) -> None:
    """Every output path is checked before any work: a typo must not cost a long replay."""
    for out in outputs:
        if out is None:
            continue
        if out.is_dir():
            raise BadInput(f"cannot write {out}: it is a folder")
        parent = out.parent.resolve()
        if not parent.is_dir():
            raise BadInput(f"cannot write {out}: folder {out.parent} does not exist")
        if not os.access(parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
            raise BadInput(f"cannot write {out}: permission denied")


def _db_path(db: str | None) -> Path | None:
    """The --db file to check before any work (None for a PostgreSQL URL or no --db)."""
    from sandbox.stores import is_url

    return None if db is None or is_url(db) else Path(db)


def _instrument_entry(value: str) -> str:
    """One ``--instrument`` entry, checked at once: a typo must not end a session after its capture."""
    from sandbox.protocols.flows import instrument_side

    try:
        instrument_side([value])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--instrument ")) from None
    return value


def _open_store(db: str | Path | None, rig: str = "", instrument: str = ""):
    """The session's store (a new session, its writer lock held), tagged with the rig and the
    instrument: ``db`` (a path or URL), else a temporary SQLite file removed by ``_close_store``."""
    from sandbox.store import Store, StoreBusy, StoreError

    temp = None
    if db is None:
        import tempfile

        temp = Path(tempfile.mkdtemp(prefix="sandbox-"))
        db = temp / "store.sqlite"
    try:
        return Store(db, fresh=True, rig=safe_text(rig), instrument=safe_text(instrument)), temp
    except (StoreBusy, StoreError) as exc:
        if temp is not None:
            import shutil

            shutil.rmtree(temp, ignore_errors=True)
        raise BadInput(str(exc)) from None


def _close_store(store, temp: Path | None) -> None:
    store.close()
    if temp is not None:
        import shutil

        shutil.rmtree(temp, ignore_errors=True)


def _indexes(args: argparse.Namespace) -> list:
    from sandbox.index import build_index
    from sandbox.replay import check_run
    from sandbox.runs import RunFolderError

    _check_run_dirs(args.runs)
    try:
        indexes = [build_index(run, cache_dir=args.cache_dir, progress=not args.quiet) for run in args.runs]
        for index in indexes:
            check_run(index)
    except RunFolderError as exc:
        raise BadInput(str(exc)) from exc
    return indexes


def _load_profile(path: Path | None):
    """The acceptance profile of ``--profile``, or None; a profile nobody meant is exit 2, before any work."""
    from sandbox.report.profile import Profile, ProfileError

    if path is None:
        return None
    try:
        return Profile.load(path)
    except ProfileError as exc:
        raise BadInput(str(exc)) from None


def _write_reports(args: argparse.Namespace, report: dict, store: str | None, inputs: dict | None,
                   session_id: str | None) -> None:
    """Every report asked for; the HTML one with the plots of the session in ``store`` (a SQLite file or a
    PostgreSQL URL) and a SHA-256 manifest of the evidence."""
    from sandbox.report import write_html, write_json, write_junit
    from sandbox.report.manifest import evidence_manifest, session_evidence
    from sandbox.report.sarif import write_sarif

    def html(report: dict, path: Path) -> None:
        from sandbox.report.stored import figures_from_store

        figures = figures_from_store(store, session_id) if store else None
        write_html(report, path, figures, evidence_manifest(session_evidence(report, inputs)))

    for path, write in ((args.report, write_json), (args.junit, write_junit), (args.sarif, write_sarif),
                        (args.html, html)):
        if path is not None:
            try:
                write(report, path)
            except OSError as exc:
                raise BadInput(f"cannot write {path}: {exc.strerror or exc}") from None


def _finish(args: argparse.Namespace, report: dict, store: str | None, shown_store: bool = True,
            inputs: dict | None = None, session_id: str | None = None) -> int:
    """Reports, summary and exit status: the same for a replay, a live session and ``sandbox report``.
    ``store`` is what another process opens (a path, a URL that may hold a password: never printed)."""
    from sandbox.report import exit_code
    from sandbox.stores import display, is_url
    from sandbox.summary import print_summary

    _write_reports(args, report, store, inputs, session_id)
    if not args.quiet:
        print_summary(report, sys.stdout)
        if store and shown_store:
            print(f"store: {display(store)}" + (f" (session {session_id})" if is_url(store) else ""))
    return exit_code(report)


def cmd_replay(args: argparse.Namespace) -> int:
    if args.bundle is not None:
        return _replay_bundle(args)
    return _replay(args)[0]


def _replay(args: argparse.Namespace) -> tuple[int, dict]:
    """The replay of ``args.captures``: (exit status, report)."""
    from sandbox.archive import ClusterError, parse_cluster, replay_archive
    from sandbox.captures import CaptureError
    from sandbox.replay import check_capture, replay
    from sandbox.runs import RunFolderError

    if not args.captures:
        raise BadInput("nothing to replay: give CAPTURE files or --bundle BUNDLE")
    _check_run_dirs(args.runs)
    for cap in args.captures:
        if not (cap.is_file() or (args.cluster and cap.is_dir())):
            raise BadInput(f"capture {cap} does not exist or is not a file"
                           + (" or folder" if args.cluster else ""))
    if args.tls_keylog and not args.tls_keylog.is_file():
        raise BadInput(f"TLS key log {args.tls_keylog} does not exist")
    if args.cluster and args.jobs:
        raise BadInput("--jobs is for one machine's replay; with --cluster the workers are the processes")
    _check_outputs(args.report, args.junit, args.sarif, args.html, _db_path(args.db))
    profile = _load_profile(args.profile)
    captures = args.captures
    if args.cluster:
        from sandbox.archive.groups import expand

        try:
            parse_cluster(args.cluster)
        except ClusterError as exc:
            raise BadInput(str(exc)) from None
        captures = expand(args.captures)
        if not captures:
            raise BadInput("no capture in the archives given (a folder means the .pcap/.pcapng files in it)")
    try:
        for cap in captures:
            check_capture(cap)
    except CaptureError as exc:
        raise BadInput(str(exc)) from exc
    store, temp = _open_store(args.db, args.rig, args.instrument_name or "")
    bar = _progress_bar(sum(c.stat().st_size for c in captures), args.quiet)
    try:
        try:
            common = {"keylog": args.tls_keylog, "allow": args.allow, "instrument": args.instrument or None,
                      "store": store, "cache_dir": args.cache_dir, "progress": bar.update_to if bar else None,
                      "index_progress": not args.quiet, "profile": profile}
            if args.cluster:
                result = replay_archive(args.captures, args.runs, cluster=args.cluster, **common)
            else:
                result = replay(args.captures, args.runs, jobs=args.jobs, **common)
        except (CaptureError, RunFolderError, ClusterError) as exc:
            raise BadInput(str(exc)) from exc
        finally:
            if bar:
                bar.close()
        if args.cluster and not args.quiet:
            st = result.stats
            loads = sorted(set(st.worker_loads.values()))
            print(f"cluster {st.cluster}: {len(captures)} capture(s) in {st.groups} group(s) on {st.workers} "
                  f"worker(s); {st.runs} group replay(s) in {st.rounds} round(s); run indexes loaded "
                  f"{'once' if loads == [1] else f'{loads} times'} per worker")
            for reason in st.reasons[:5]:
                print(f"  replayed together: {safe_text(reason, limit=MAX_SHOWN)}")
        inputs = {"keylogs": [str(args.tls_keylog)] if args.tls_keylog else []}
        status = _finish(args, result.report, store.target, shown_store=temp is None, inputs=inputs,
                         session_id=store.session_id)
        if result.store_error:
            raise BadInput(f"{result.store_error} (the replay went on; reports above are complete)")
        if args.dash:
            from dashboards import serve

            store.close()
            serve(store.target, port=args.port, open_browser=False)
        return status, result.report
    finally:
        _close_store(store, temp)


def _replay_bundle(args: argparse.Namespace) -> int:
    """``replay --bundle``: unpack and verify the bundle, replay its recordings with its keys, profile and
    allow-list against the run folders, and say whether its findings were reproduced."""
    import shutil
    import tempfile

    from sandbox.report.bundle import BundleError, open_bundle

    if args.captures:
        raise BadInput("give either CAPTURE files or --bundle, not both")
    if not args.bundle.is_file():
        raise BadInput(f"bundle {args.bundle} does not exist or is not a file")
    work = Path(tempfile.mkdtemp(prefix="sbx-replay-bundle-"))
    try:
        try:
            bundle = open_bundle(args.bundle, work)
            bundled_profile = bundle.profile
        except BundleError as exc:
            raise BadInput(str(exc)) from None
        if not args.runs:
            args.runs = [Path(r["path"]) for r in bundle.meta.get("runs", [])]
        keylogs = bundle.keylogs
        if keylogs:
            joined = work / "keys.log"
            joined.write_bytes(b"\n".join(k.read_bytes() for k in keylogs))
            args.tls_keylog = args.tls_keylog or joined
        args.captures = bundle.captures
        args.allow = list(dict.fromkeys([*bundle.meta.get("allow", []), *args.allow]))
        args.instrument = args.instrument or bundle.meta.get("instrument", [])
        profile_path = args.profile
        if profile_path is None and bundled_profile is not None:
            profile_path = work / "profile.toml"
            profile_path.write_text(bundled_profile.text, encoding="utf-8")
        args.profile, args.bundle = profile_path, None
        wanted = {r["run_id"] for r in bundle.meta.get("runs", [])}
        _check_run_dirs(args.runs)
        from sandbox.index import build_index
        from sandbox.runs import RunFolderError

        for run in args.runs:
            try:
                run_id = build_index(run, cache_dir=args.cache_dir, progress=not args.quiet).run_id
            except RunFolderError as exc:
                raise BadInput(str(exc)) from None
            if wanted and run_id not in wanted:
                raise BadInput(f"run folder {run} is run {run_id}; the bundle was made against "
                               f"{', '.join(sorted(wanted))} (give that folder with --run)")
        status, report = _replay(args)
        found = {f["id"] for f in report["findings"]}
        expected = set(bundle.meta.get("findings", []))
        if not args.quiet:
            print(f"bundle: {len(found & expected)} of {len(expected)} findings reproduced"
                  + (f"; {len(found - expected)} new" if found - expected else ""))
        return status
    finally:
        shutil.rmtree(work, ignore_errors=True)


def cmd_watch(args: argparse.Namespace) -> int:
    import signal
    import subprocess
    import threading
    import time

    from hw.tap import TapError
    from hw.taps import TAP_MODULES
    from hw.watch import session_folder, watch

    try:
        taps = [tap for module in TAP_MODULES for tap in module.from_args(args)]
    except TapError as exc:      # a tap option that cannot work (a port that does not exist)
        raise BadInput(str(exc)) from exc
    if not taps:
        raise BadInput("nothing to watch: give at least one tap (see `sandbox watch --help`)")
    if args.duration is not None and args.duration <= 0:
        raise BadInput("--duration must be a positive number of seconds")
    _check_outputs(args.report, args.junit, args.sarif, args.html, _db_path(args.db))
    profile = _load_profile(args.profile)
    indexes = _indexes(args)
    try:
        session_dir = session_folder(args.record, time.time())
    except TapError as exc:
        raise BadInput(str(exc)) from exc
    # the store stays with the recordings (sandbox report / sandbox bundle SESSION_DIR afterwards)
    store, temp = _open_store(args.db or session_dir / "store.sqlite", args.rig, args.instrument_name or "")
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    dashboards: list[subprocess.Popen] = []

    def started() -> None:
        """Taps are up: start the --duration clock and the dashboard (its own process)."""
        if args.duration is not None:
            timer = threading.Timer(args.duration, stop.set)
            timer.daemon = True
            timer.start()
        if args.dash:
            # the store's URL may hold a password: by environment, never on a command line others can read
            dashboards.append(subprocess.Popen([sys.executable, "-m", "dashboards", "--port", str(args.port)],
                                               env={**os.environ, "SANDBOX_DB": store.target}))
        if not args.quiet:
            for tap in taps:
                for line in getattr(tap, "started_lines", lambda: [])():
                    print(line, flush=True)
            print(f"recording to {session_dir}/  (Ctrl-C ends the session)", flush=True)

    try:
        jobs = args.jobs or (2 if (os.cpu_count() or 1) >= 2 else 1)
        try:
            result = watch(taps, indexes, store=store, session_dir=session_dir, stop=stop, allow=args.allow,
                           instrument=args.instrument or None, jobs=jobs, on_started=started, profile=profile)
        except TapError as exc:
            raise BadInput(str(exc)) from exc
        status = _finish(args, result.report, store.target, shown_store=temp is None, session_id=store.session_id)
        for tap in taps:
            for note in getattr(tap, "notes", []):
                print(f"sandbox: {tap.name}: {note}", file=sys.stderr)
        if not args.quiet:
            print(f"recordings: {session_dir}/  (`sandbox replay` them for the same findings)")
        if result.store_error:
            raise BadInput(f"{result.store_error}: the session was ended; recordings in {session_dir}/")
        return status
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for dash in dashboards:
            dash.terminate()
            dash.wait(10)
        _close_store(store, temp)


def cmd_report(args: argparse.Namespace) -> int:
    from sandbox.report.stored import StoreUnreadable, report_from_store, stored_session

    _check_outputs(args.report, args.junit, args.sarif, args.html)
    profile = _load_profile(args.profile)
    try:
        with stored_session(args.db, args.session) as (store, session):
            session_id, inputs = store.session_id, session.get("inputs")
        report = report_from_store(args.db, profile, session_id)
    except StoreUnreadable as exc:
        raise BadInput(str(exc)) from None
    return _finish(args, report, args.db, shown_store=False, inputs=inputs, session_id=session_id)


def cmd_bundle(args: argparse.Namespace) -> int:
    from sandbox.report.bundle import BundleError, write_bundle
    from sandbox.report.stored import StoreUnreadable
    from sandbox.stores import is_url

    db = args.db
    if not is_url(db):
        db = Path(db) / "store.sqlite" if Path(db).is_dir() else Path(db)
        if not db.is_file():
            raise BadInput(f"no session store at {db} (give the store, or a session folder holding store.sqlite)")
    if not args.out.name.endswith((".tar.zst", ".tzst")):
        raise BadInput(f"{args.out}: a bundle is a .tar.zst file")
    _check_outputs(args.out)
    bar = _progress_bar(None, args.quiet, "bundle")   # bytes packed so far (the total is known inside)
    try:
        meta = write_bundle(db, args.out, progress=bar.bar.update if bar else None, session_id=args.session)
    except (BundleError, StoreUnreadable) as exc:
        raise BadInput(str(exc)) from None
    finally:
        if bar:
            bar.close()
    if not args.quiet:
        print(f"bundle: {args.out} ({len(meta['captures'])} recording(s), {len(meta['keylogs'])} key log(s), "
              f"{len(meta['findings'])} finding(s), verdict {meta['verdict']})")
    return EXIT_CLEAN


def cmd_dash(args: argparse.Namespace) -> int:
    from dashboards import serve
    from dashboards.auth import check_token
    from sandbox.stores import StoreError

    if args.db is None:
        raise BadInput("which store? give --db PATH or --db postgresql://... (or set $SANDBOX_DB)")
    path = _db_path(args.db)
    if path is not None and not path.is_file():
        raise BadInput(f"store {args.db} does not exist (create one with: sandbox replay ... --db {args.db})")
    try:
        check_token(args.token)
    except ValueError as exc:
        raise BadInput(str(exc)) from exc
    try:
        serve(args.db, host=args.host, port=args.port, token=args.token)
    except StoreError as exc:
        raise BadInput(str(exc)) from None
    return EXIT_CLEAN


def cmd_ca(args: argparse.Namespace) -> int:
    from hw.net.ca import ensure_ca, install_help

    try:
        ca, made = ensure_ca(args.ca_dir)
    except OSError as exc:
        raise BadInput(f"cannot make the rig's CA: {exc.strerror or exc}") from None
    print(f"{'made the' if made else 'the'} rig's CA: {ca.folder}")
    print(f"  certificate for the instrument PC: {ca.cert_file} (Windows: {ca.cer_file.name})")
    print(f"  private key (stays on the rig, 0600): {ca.key_file}")
    if args.install_help:
        print()
        print(install_help(ca), end="")
    else:
        print("`sandbox ca --install-help` says how to install it on a Windows or Linux instrument PC.")
    return EXIT_CLEAN


def _demo_offline(args: argparse.Namespace) -> int:
    """``demo --offline``: replay the shipped recording of the demo story."""
    from sandbox.simulate import ensure_demo

    run_dir, capture = ensure_demo(DEMO_DIR)
    args.out.mkdir(parents=True, exist_ok=True)
    argv = ["replay", str(capture), "--run", str(run_dir), "--report", str(args.out / "report.json"),
            "--junit", str(args.out / "report.xml"), "--html", str(args.out / "report.html"),
            "--sarif", str(args.out / "report.sarif"),
            "--db", str(args.out / "store.sqlite"), "--allow", "lims.lab.example", "198.51.100.10",
            "--cache-dir", str(args.out / "index-cache")]
    if args.dash:
        argv.append("--dash")
    status = main(argv)
    if status not in (EXIT_CLEAN, EXIT_LEAK):
        return status
    print(f"reports: {args.out}/report.json, report.xml, report.sarif, report.html")
    print("demo: the simulated instrument leaks on purpose; `sandbox replay` exits 1 on such a capture.")
    return EXIT_CLEAN  # the demo ran as intended


def cmd_simulate(args: argparse.Namespace) -> int:
    from sandbox.simulate.scenario import MAX_READS, MAX_SAMPLES, RunSpec, ScenarioError, load_scenario

    if args.simulate == "run":
        from sandbox.simulate.platforms import make_run

        if not 1 <= args.samples <= MAX_SAMPLES or not 1 <= args.reads <= MAX_READS or args.seed < 0:
            raise BadInput(f"--samples 1..{MAX_SAMPLES}, --reads 1..{MAX_READS}, --seed 0 or more")
        _check_outputs(args.out / "x")
        run_dir = make_run(RunSpec(args.platform, args.samples, args.reads, args.seed), args.out)
        print(run_dir)
        return EXIT_CLEAN
    from sandbox.allowfile import write_allow_file
    from sandbox.simulate.payload import run_data
    from sandbox.simulate.platforms import make_run
    from sandbox.simulate.render import render

    try:
        scenario = load_scenario(args.scenario)
        out = args.out or REPO_ROOT / "out" / "simulate" / scenario.name
        out.mkdir(parents=True, exist_ok=True)
        if args.run is not None:
            _check_run_dirs([args.run])
        run_dir = args.run or make_run(scenario.run, out / "run")
        files, truth, allow = render(scenario, run_data(run_dir), out)
    except ScenarioError as exc:
        raise BadInput(str(exc)) from None
    except OSError as exc:
        raise BadInput(f"cannot write {args.out}: {exc.strerror or exc}") from None
    write_allow_file(out / "bench.toml", allow)
    for f in files:
        print(f"wrote {f}")
    print(f"truth: {out / 'truth.json'} ({len(truth)} legs)")
    print(f"replay: sandbox replay {out}/*.pcapng --run {run_dir} --allow-file {out / 'bench.toml'}")
    return EXIT_CLEAN


def cmd_demo(args: argparse.Namespace) -> int:
    """The live demo: see ``hw.demo``."""
    import signal
    import subprocess
    import threading
    import time

    from hw.demo.console import FindingsFeed, leg_line, truth_lines
    from hw.demo.live import run_live
    from hw.tap import TapError
    from hw.watch import session_folder
    from sandbox.allowfile import write_allow_file
    from sandbox.runs import RunFolderError
    from sandbox.simulate.scenario import ScenarioError, load_scenario

    if args.offline:
        return _demo_offline(args)
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        raise BadInput(str(exc)) from None
    if args.netns and os.geteuid() != 0:
        raise BadInput("--netns makes network namespaces: run it as root (without it the demo needs no root)")
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    pace = args.pace if args.pace is not None else (1.5 if interactive else 0.0)
    started_at = time.time()
    try:
        session_dir = session_folder(args.record or REPO_ROOT / "captures" / time.strftime(
            "SESSION-%Y%m%d-%H%M%S", time.localtime(started_at)), started_at)
    except TapError as exc:
        raise BadInput(str(exc)) from exc
    store, _ = _open_store(session_dir / "store.sqlite", socket.gethostname(), "simulated instrument")
    said = threading.Lock()       # legs, findings and the rig's lines come from three threads

    def say(line: str) -> None:
        if not args.quiet:
            with said:
                print(line, flush=True)

    stop, interrupted = threading.Event(), threading.Event()    # the session's end; Ctrl-C or SIGTERM

    def interrupt(*_) -> None:
        interrupted.set()
        stop.set()

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    dashboards: list[subprocess.Popen] = []
    feed = FindingsFeed(store.path, say)
    say(f"demo scenario {scenario.name!r}: {scenario.summary}" if scenario.summary else f"demo scenario {scenario.name!r}")
    say(f"recording to {session_dir}/")

    port = _free_port(args.port)
    if not args.no_dash:      # started now, it is up by the time the rig is (it imports for seconds)
        dashboards.append(subprocess.Popen([sys.executable, "-m", "dashboards", "--db", store.path, "--port",
                                            str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def started(rig: list[str]) -> None:
        for line in rig:
            say(f"rig: {line}")
        if dashboards and _listening(dashboards[0], port, DASH_START_S):
            say(f"dashboard: http://127.0.0.1:{port}/  (findings appear as the instrument sends)")
        elif dashboards:
            say(f"the dashboard did not start on port {port}: `sandbox dash --db {store.path}` shows the session")
        say("the instrument plays its scenario:")
        feed.start()

    try:
        try:
            result = run_live(scenario, session_dir, store, ca_dir=args.ca_dir, cache_dir=args.cache_dir,
                              netns=f"sbx-demo-{os.getpid() % 100000}" if args.netns else None, pace=pace,
                              jobs=2 if (os.cpu_count() or 1) >= 2 else 1, stop=stop,
                              on_event=lambda e: say(leg_line(e)), on_started=started)
        except (TapError, ScenarioError, RunFolderError) as exc:
            raise BadInput(str(exc)) from exc
        finally:
            feed.close()
        feed.poll()
        write_allow_file(session_dir / "bench.toml", result.allow)
        reports = argparse.Namespace(report=session_dir / "report.json", junit=session_dir / "report.xml",
                                     sarif=session_dir / "report.sarif", html=session_dir / "report.html",
                                     quiet=args.quiet)
        _finish(reports, result.report, store.path, shown_store=False)
        for line in truth_lines(result.truth, result.problems):
            print(line)
        print(f"reports: {session_dir}/report.json, report.html, report.xml, report.sarif")
        print(f"replay:  sandbox replay {session_dir}/*.pcapng --run {result.run_dir} "
              f"--allow-file {session_dir}/bench.toml")
        if result.store_error:
            print(f"sandbox: {result.store_error}", file=sys.stderr)
        if interactive and dashboards and not interrupted.is_set():
            print("the dashboard stays up until Ctrl-C", flush=True)
            interrupted.wait()
        return EXIT_CLEAN if not result.problems else EXIT_LEAK
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for dash in dashboards:
            dash.terminate()
            dash.wait(10)
        store.close()


def _listening(proc, port: int, timeout: float) -> bool:
    """Whether ``proc`` answers on 127.0.0.1:``port`` within ``timeout`` (False once it exits)."""
    import socket
    import time

    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def _free_port(preferred: int) -> int:
    """``preferred`` when nothing listens there, else one the kernel picks."""
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Bar:
    def __init__(self, total: int | None, desc: str):
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="B", unit_scale=True, desc=desc, file=sys.stderr)

    def update_to(self, position: int) -> None:
        self.bar.update(max(0, position - self.bar.n))

    def close(self) -> None:
        self.bar.close()


def _progress_bar(total: int | None, quiet: bool, desc: str = "replay") -> _Bar | None:
    return None if quiet or not sys.stderr.isatty() and os.environ.get("SANDBOX_PROGRESS") != "1" else _Bar(total, desc)


if __name__ == "__main__":
    sys.exit(main())
