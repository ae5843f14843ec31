"""Where run indexes are cached, and why the rig can trust what it reads back.

The instrument writes the run folder, so nothing the rig trusts lives there: an index is cached in
the rig's own cache (``--cache-dir``, else ``$SANDBOX_CACHE_DIR``, else
``$XDG_CACHE_HOME/instrument-sandbox/index``), one folder per run keyed by its resolved path. Every
cache carries an HMAC-SHA256, under a per-rig key kept in the rig's state folder
(``$XDG_STATE_HOME/instrument-sandbox/index.key``), over its metadata, the run manifest and a digest
of every array. Anything in doubt (no key, a wrong MAC or digest, an unreadable file) is rebuilt and
said once; a changed run folder is rebuilt silently. Folders are 0700 and files 0600: an index holds
packed read k-mers from which reads can be reassembled.

Hashing a large index costs about a second, so a verified cache is stamped (MAC'd) with the identity
of its files (inode, size, mtime, ctime): while none of them changed, the next reuse trusts the stamp
instead of re-reading every byte. Any write to a file moves its ctime, which only root (who holds the
key anyway) can set back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .runindex import ARRAYS, FORMAT_VERSION, RunIndex

APP_DIR = "instrument-sandbox"
CACHE_ENV = "SANDBOX_CACHE_DIR"  # the cache root for one shell or CI job without --cache-dir
KEY_NAME = "index.key"
KEY_BYTES = 32  # HMAC-SHA256 key: the hash's block-size-safe, full-strength length (RFC 2104 sec. 3)
HASH_PIECE = 32 << 20  # bytes hashed per thread task: a 160 MB k-mer array spreads over every core
READ_BLOCK = 1 << 20  # bytes a hashing thread reads at a time
CTIME_SLACK_NS = 50_000_000  # a stamp trusts only files older than this: file times tick by <= 10 ms
MAC_LABEL = b"sandbox.index-cache/1\0"  # domain separation: an index MAC is never a stamp MAC
STAMP_LABEL = b"sandbox.index-stamp/1\0"
TAG_NAME_CHARS = 40  # readable prefix of a run's cache folder name; the hash after it is the key


class CacheDoubt(Exception):
    """A cache the rig cannot trust: rebuilt, and said once (the message is the note)."""


def default_cache_root() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / APP_DIR / "index"


def key_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / APP_DIR / KEY_NAME


def cache_folder(run_dir: Path, cache_dir: Path | None = None) -> Path:
    """This run's cache folder: a readable name plus a hash of the run's resolved path."""
    run_dir = Path(run_dir).resolve()
    name = re.sub(r"[^A-Za-z0-9._-]", "_", run_dir.name)[:TAG_NAME_CHARS]
    digest = hashlib.sha256(os.fsencode(run_dir)).hexdigest()[:20]
    return Path(cache_dir if cache_dir is not None else default_cache_root()) / f"{name}-{digest}"


def private_dir(path: Path) -> Path:
    """``path`` as a folder only this user can enter: missing folders on the way are made 0700, and
    ``path`` itself is tightened to 0700. CacheDoubt when it is a symlink, not a folder, or another
    user's (in a shared --cache-dir they could read or plant what the rig writes there)."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for p in reversed(missing):
        p.mkdir(mode=0o700, exist_ok=True)
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise CacheDoubt(f"index cache off: {path} is not a folder of this user")
    if st.st_mode & 0o077:
        path.chmod(0o700)
    return path


def rig_key() -> tuple[bytes, str | None]:
    """The rig's secret MAC key, made on first use; with a note when an unsafe key was replaced.

    Raises CacheDoubt when no key can be read or made (the cache is then not used at all).
    """
    path = key_path()
    try:
        st = path.stat()
        if st.st_uid == os.geteuid() and not st.st_mode & 0o077 and st.st_size == KEY_BYTES:
            return path.read_bytes(), None
        why = "not ours" if st.st_uid != os.geteuid() else \
            f"mode {st.st_mode & 0o777:o}" if st.st_mode & 0o077 else "malformed"
        return _write_key(path, replace=True), f"rig key {path} was {why}: replaced, cached indexes are rebuilt"
    except FileNotFoundError:
        return _write_key(path, replace=False), None
    except OSError as exc:
        raise CacheDoubt(f"index cache off: rig key {path} unreadable ({exc.strerror or exc})") from exc


def _write_key(path: Path, replace: bool) -> bytes:
    """A new random key at ``path``, 0600 from the start; a key made meanwhile by another process wins."""
    try:
        private_dir(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".key-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(KEY_BYTES))
            if replace:
                os.replace(tmp, path)
            else:
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    pass
            return path.read_bytes()
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError as exc:
        raise CacheDoubt(f"index cache off: cannot make rig key {path} ({exc.strerror or exc})") from exc


def _mac(key: bytes, label: bytes, data: bytes) -> str:
    return hmac.new(key, label + data, hashlib.sha256).hexdigest()


def file_digests(paths: list[Path]) -> list[str]:
    """SHA-256 over the SHA-256 of each HASH_PIECE of each file: the pieces hash in parallel threads
    (hashlib lets go of the GIL), each read through a buffer of READ_BLOCK bytes (a memory map would
    count every page of the arrays in the process's resident memory while they are hashed)."""
    tasks: list[tuple[Path, int]] = []
    counts: list[int] = []
    for p in paths:
        size = p.stat().st_size
        starts = range(0, max(size, 1), HASH_PIECE)
        tasks.extend((p, at) for at in starts)
        counts.append(len(starts))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        flat = list(pool.map(lambda task: _piece_digest(*task), tasks))
    out, at = [], 0
    for n in counts:
        out.append(hashlib.sha256(b"".join(flat[at: at + n])).hexdigest())
        at += n
    return out


def _piece_digest(path: Path, at: int) -> bytes:
    """SHA-256 of the HASH_PIECE bytes of ``path`` from ``at`` (fewer at the end of the file)."""
    digest = hashlib.sha256()
    buf = memoryview(bytearray(READ_BLOCK))
    with open(path, "rb", buffering=0) as fh:
        fh.seek(at)
        left = HASH_PIECE
        while left and (n := fh.readinto(buf[:min(READ_BLOCK, left)])):
            digest.update(buf[:n])
            left -= n
    return digest.digest()


def _identity(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def save(index: RunIndex, folder: Path, manifest: list[list], key: bytes) -> None:
    """Write ``index`` and its MAC into ``folder`` (private); index.json replaces the old one last."""
    private_dir(folder)
    nonce = secrets.token_hex(6)  # fresh array names: a concurrent reader keeps its own complete set
    files = {}
    for name in ARRAYS:
        files[name] = f"{name}-{nonce}.npy"
        fd = os.open(folder / files[name], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, np.ascontiguousarray(getattr(index, name)))
    digests = file_digests([folder / f for f in files.values()])
    meta = {**index.to_meta(), "version": FORMAT_VERSION, "manifest": manifest,
            "arrays": {name: [files[name], digest] for name, digest in zip(ARRAYS, digests, strict=True)}}
    body = json.dumps(meta)
    index_mac = _mac(key, MAC_LABEL, body.encode())
    _write_private(folder / "index.json", json.dumps({"mac": index_mac, "meta": body}))
    _stamp(folder, index_mac, list(files.values()), key)
    keep = set(files.values()) | _referenced(folder)  # a concurrent save may have replaced ours
    for old in folder.glob("*.npy"):
        if old.name not in keep:
            old.unlink(missing_ok=True)


def _referenced(folder: Path) -> set[str]:
    try:
        return {f for f, _ in json.loads(json.loads((folder / "index.json").read_text())["meta"])["arrays"].values()}
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def _write_private(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # mkstemp files are 0600
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _stamp(folder: Path, index_mac: str, array_files: list[str], key: bytes) -> None:
    """Vouch that these verified arrays belong to the index with ``index_mac``, while their identities
    stay as they are now; only for files that changed over CTIME_SLACK_NS ago (a file written in the
    same clock tick could change again without moving its ctime). Best effort."""
    try:
        ids = [_identity(folder / f) for f in array_files]
        if any(i[4] > time.time_ns() - CTIME_SLACK_NS for i in ids):
            return
        stamp = [index_mac, array_files, ids]
        _write_private(folder / "stamp.json", json.dumps(
            {"stamp": stamp, "mac": _mac(key, STAMP_LABEL, json.dumps(stamp).encode())}))
    except OSError:
        pass


def _stamped(folder: Path, index_mac: str, array_files: list[str], key: bytes) -> bool:
    """True when a valid stamp vouches for exactly these arrays of this index, none changed since."""
    try:
        outer = json.loads((folder / "stamp.json").read_text())
        stamp = outer["stamp"]
        return (hmac.compare_digest(outer["mac"], _mac(key, STAMP_LABEL, json.dumps(stamp).encode()))
                and stamp == [index_mac, array_files, [_identity(folder / f) for f in array_files]])
    except (OSError, ValueError, KeyError, TypeError):
        return False


def load(folder: Path, manifest: list[list], key: bytes) -> RunIndex | None:
    """The cached index when it is authentic and the run folder is unchanged; None when there is none
    or the run changed; CacheDoubt when it is there but cannot be trusted."""
    try:
        raw = (folder / "index.json").read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CacheDoubt(f"index cache {folder} unreadable ({exc.strerror or exc}): rebuilt") from exc
    try:
        outer = json.loads(raw)
        body = outer["meta"].encode()
        index_mac = _mac(key, MAC_LABEL, body)
        authentic = hmac.compare_digest(outer["mac"], index_mac)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CacheDoubt(f"index cache {folder} malformed: rebuilt") from exc
    if not authentic:
        raise CacheDoubt(f"index cache {folder} failed authentication (tampered, or made under another "
                         "rig key): rebuilt")
    meta = json.loads(body)
    if meta.get("version") != FORMAT_VERSION or meta.get("manifest") != manifest:
        return None  # the run folder (or the index format) changed: an ordinary rebuild
    array_files = [meta["arrays"][name][0] for name in ARRAYS]
    try:
        if not _stamped(folder, index_mac, array_files, key):
            digests = file_digests([folder / f for f in array_files])
            if digests != [meta["arrays"][name][1] for name in ARRAYS]:
                raise CacheDoubt(f"index cache {folder}: an array does not match its MAC'd digest "
                                 "(tampered or damaged): rebuilt")
            _stamp(folder, index_mac, array_files, key)
        arrays = {name: np.load(folder / f, mmap_mode="r") for name, f in zip(ARRAYS, array_files, strict=True)}
    except (OSError, ValueError) as exc:
        raise CacheDoubt(f"index cache {folder} unreadable ({exc}): rebuilt") from exc
    return RunIndex.from_meta(meta, arrays)
