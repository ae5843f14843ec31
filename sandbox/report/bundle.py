"""Evidence bundles: one ``.tar.zst`` a lab files with the acceptance test, and replays later.

It holds the session's recordings, TLS key logs, acceptance profile, its reports (JSON, JUnit,
SARIF, HTML) and ``MANIFEST.sha256`` (``sha256sum -c`` format) over all of it.  The run folders are
not copied (they are the data the rig guards): ``bundle.json`` names them, and a replay of the bundle
indexes them where they are, or where ``--run`` says.

Reading one treats it as input from elsewhere: only regular files with the names a bundle has, each
checked against the manifest, written into a private folder, never beyond the free disk space.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import socket
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import zstandard

from sandbox.report.manifest import HASH_CHUNK, sha256sum_lines
from sandbox.report.private import open_private
from sandbox.report.profile import Profile

BUNDLE_SCHEMA = "sandbox.bundle/1"
TOP = "sandbox-evidence"  # the folder a bundle unpacks into (tar xf never litters the current one)
META, MANIFEST, PROFILE = "bundle.json", "MANIFEST.sha256", "profile.toml"
REPORTS = ("report.json", "report.xml", "report.sarif", "report.html")
ZSTD_LEVEL = 10  # recordings compress ~3-5x; higher levels cost much more time for a few percent
MAX_META_BYTES = 1 << 20  # bundle.json and the manifest are a page each: more is not a bundle
MAX_MEMBERS = 100_000  # a session's recordings (ring files) and keys number in the hundreds at most
MAX_NAME = 240  # characters of a member name: within any file system's limit
# Member names a bundle has, relative to TOP: nothing else is unpacked.
_NAMES = re.compile(r"(bundle\.json|MANIFEST\.sha256|profile\.toml|report\.(json|xml|sarif|html)"
                    r"|(captures|keys)/\d{3}-[^/\x00]{1,200})")


class BundleError(Exception):
    """A bundle that cannot be written or trusted: one line for the user, exit status 2."""


@dataclass
class Bundle:
    """An unpacked, verified bundle."""

    root: Path
    meta: dict[str, Any]

    @property
    def captures(self) -> list[Path]:
        return [self.root / name for name in self.meta["captures"]]

    @property
    def keylogs(self) -> list[Path]:
        return [self.root / name for name in self.meta["keylogs"]]

    @property
    def profile(self) -> Profile | None:
        if not self.meta.get("profile"):
            return None
        text = (self.root / PROFILE).read_text(encoding="utf-8")
        return Profile.parse(text, source=self.meta.get("profile_source", PROFILE))

    @property
    def report(self) -> dict[str, Any]:
        return json.loads((self.root / "report.json").read_text(encoding="utf-8"))


class _Hashing:
    """A file read through once by tarfile: hashes what it hands out, never more than ``size`` bytes."""

    def __init__(self, fh: BinaryIO, size: int, progress: Any = None) -> None:
        self.fh, self.left, self.progress = fh, size, progress
        self.digest = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        data = self.fh.read(n)
        self.left -= len(data)
        self.digest.update(data)
        if self.progress is not None:
            self.progress(len(data))
        return data


def write_bundle(store_path: str | Path, out: str | Path, progress: Any = None,
                 session_id: str | None = None) -> dict[str, Any]:
    """Pack a session (``session_id``, else the newest) of the store at ``store_path`` (a SQLite file or a
    ``postgresql://`` URL) into ``out`` (private, atomic); returns bundle.json.  The recordings and key
    logs must be on this machine: a bundle packs the files, the store only names them."""
    from sandbox.report.contract import write_json
    from sandbox.report.html import write_html
    from sandbox.report.junit import write_junit
    from sandbox.report.manifest import evidence_manifest, session_evidence
    from sandbox.report.sarif import write_sarif
    from sandbox.report.stored import figures_from_store, report_from_store, stored_session
    from sandbox.ring import ring_members

    with stored_session(store_path, session_id) as (store, session):
        session_id = store.session_id
        rig = store.tags().get("rig", "")
    report = report_from_store(store_path, session_id=session_id)
    inputs = session.get("inputs") or {}
    cwd = Path(inputs.get("cwd") or ".")
    files: list[tuple[str, Path]] = []
    for i, name in enumerate(session.get("captures") or []):
        for path in ring_members(cwd / name):      # a ring's files keep one prefix: replayed as one again
            files.append((f"captures/{i:03d}-{_base(str(path))}", path))
    for i, name in enumerate(inputs.get("keylogs") or []):
        files.append((f"keys/{i:03d}-{_base(name)}", cwd / name))
    for _, path in files:
        if not path.is_file():
            where = f" (recorded on rig {rig}: bundle it there)" if rig and rig != socket.gethostname() else ""
            raise BundleError(f"cannot bundle {path}: the session's file is gone{where}")
    stored_profile = session.get("profile") or {}
    meta = {
        "schema": BUNDLE_SCHEMA, "created": time.time(),
        "session": report["session"], "verdict": report["verdict"],
        "runs": [{"run_id": r["run_id"], "path": r["path"]} for r in report["runs"]],
        "captures": [arc for arc, _ in files if arc.startswith("captures/")],
        "capture_names": list(session.get("captures") or []),
        "keylogs": [arc for arc, _ in files if arc.startswith("keys/")],
        "profile": PROFILE if stored_profile.get("text") else None,
        "profile_source": stored_profile.get("source", ""),
        "allow": list(stored_profile.get("cli_allowed") or []),
        "instrument": list(inputs.get("instrument") or []),
        "findings": [f["id"] for f in report["findings"]],
    }
    with tempfile.TemporaryDirectory(prefix="sbx-bundle-") as tmp:
        work = Path(tmp)
        write_json(report, work / "report.json")
        write_junit(report, work / "report.xml")
        write_sarif(report, work / "report.sarif")
        write_html(report, work / "report.html", figures_from_store(store_path, session_id),
                   evidence_manifest(session_evidence(report, inputs)))
        (work / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        if meta["profile"]:
            (work / PROFILE).write_text(stored_profile["text"], encoding="utf-8")
        members = [(META, work / META)] + ([(PROFILE, work / PROFILE)] if meta["profile"] else [])
        members += [(name, work / name) for name in REPORTS] + files
        try:
            _pack(out, members, progress)
        except OSError as exc:
            raise BundleError(f"cannot write {out}: {exc.strerror or exc}") from None
    return meta


def _pack(out: str | Path, members: list[tuple[str, Path]], progress: Any) -> None:
    sums: list[tuple[str, str]] = []
    with open_private(out) as raw:
        cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        with cctx.stream_writer(raw, closefd=False) as zw, tarfile.open(fileobj=zw, mode="w|",
                                                                        format=tarfile.PAX_FORMAT) as tar:
            for arc, path in members:
                with open(path, "rb") as fh:
                    size = os.fstat(fh.fileno()).st_size
                    info = _info(f"{TOP}/{arc}", size)
                    reader = _Hashing(fh, size, progress)
                    tar.addfile(info, reader)
                    sums.append((reader.digest.hexdigest(), arc))
            text = sha256sum_lines(sums).encode("utf-8")
            tar.addfile(_info(f"{TOP}/{MANIFEST}", len(text)), io.BytesIO(text))


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o600, int(time.time())
    return info


def _base(name: str) -> str:
    """A file name safe to be a member name: the last path part, no control characters, bounded."""
    base = re.sub(r"[^A-Za-z0-9._+-]", "_", Path(name).name)[:200].lstrip(".")
    return base or "file"


def open_bundle(path: str | Path, dest: str | Path) -> Bundle:
    """Unpack and verify the bundle at ``path`` into the (private, empty) folder ``dest``."""
    dest = Path(dest)
    got: dict[str, str] = {}
    try:
        with open(path, "rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as zr, \
                tarfile.open(fileobj=zr, mode="r|") as tar:
            for member in tar:
                rel = _member_name(member, got)
                target = dest / TOP / rel
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                if shutil.disk_usage(dest).free < member.size:
                    raise BundleError(f"not enough disk space to unpack {rel} ({member.size} bytes)")
                if rel in (META, MANIFEST) and member.size > MAX_META_BYTES:
                    raise BundleError(f"{rel} of {path} is {member.size} bytes: not a bundle")
                src = tar.extractfile(member)
                digest = hashlib.sha256()
                with open(target, "wb") as out:
                    target.chmod(0o600)
                    while chunk := src.read(HASH_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                got[rel] = digest.hexdigest()
    except (tarfile.TarError, zstandard.ZstdError, EOFError) as exc:
        raise BundleError(f"{path} is not a readable bundle (tar.zst): {exc}") from None
    except OSError as exc:
        raise BundleError(f"cannot read bundle {path}: {exc.strerror or exc}") from None
    root = dest / TOP
    _verify(path, root, got)
    try:
        meta = json.loads((root / META).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"{META} of {path} cannot be read: {exc}") from None
    if not isinstance(meta, dict) or meta.get("schema") != BUNDLE_SCHEMA:
        raise BundleError(f"{path} is not a {BUNDLE_SCHEMA} bundle")
    for key in ("captures", "keylogs"):
        if not isinstance(meta.get(key), list) or any(n not in got for n in meta[key]):
            raise BundleError(f"{META} of {path} names {key} the bundle does not hold")
    if meta.get("profile") and PROFILE not in got:
        raise BundleError(f"{META} of {path} names a profile the bundle does not hold")
    return Bundle(root, meta)


def _member_name(member: tarfile.TarInfo, seen: dict[str, str]) -> str:
    name = member.name
    if not member.isfile():
        raise BundleError(f"bundle member {name[:MAX_NAME]!r} is not a regular file")
    if not name.startswith(TOP + "/") or len(name) > MAX_NAME:
        raise BundleError(f"bundle member {name[:MAX_NAME]!r} is outside {TOP}/")
    rel = name[len(TOP) + 1:]
    if not _NAMES.fullmatch(rel) or ".." in rel.split("/"):
        raise BundleError(f"bundle member {name!r} is not one a bundle has")
    if rel in seen:
        raise BundleError(f"bundle member {name!r} appears twice")
    if len(seen) >= MAX_MEMBERS:
        raise BundleError(f"bundle has over {MAX_MEMBERS} members")
    return rel


def _verify(path: str | Path, root: Path, got: dict[str, str]) -> None:
    """Every member but the manifest is listed in it with the hash it has, and nothing listed is missing."""
    if MANIFEST not in got:
        raise BundleError(f"{path} has no {MANIFEST}: its evidence cannot be checked")
    listed: dict[str, str] = {}
    for line in (root / MANIFEST).read_text(encoding="utf-8", errors="replace").splitlines():
        digest, sep, name = line.partition("  ")
        if not sep or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise BundleError(f"{MANIFEST} of {path} has a line that is not '<sha256>  <name>'")
        listed[name] = digest
    for name, digest in got.items():
        if name == MANIFEST:
            continue
        if name not in listed:
            raise BundleError(f"{name} in {path} is not in its {MANIFEST}")
        if listed[name] != digest:
            raise BundleError(f"{name} in {path} does not match its SHA-256 in {MANIFEST}: the evidence was altered")
    missing = set(listed) - set(got)
    if missing:
        raise BundleError(f"{path} lacks {sorted(missing)[0]}, which its {MANIFEST} lists")
