"""Evidence bundles: what goes in, that sha256sum accepts the manifest, that a replay of the bundle
reproduces the findings, and that a bundle from elsewhere is checked before anything is used."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest
import zstandard

from sandbox.cli import main
from sandbox.report.bundle import TOP, BundleError, open_bundle, write_bundle
from sandbox.store import Store


@pytest.fixture(scope="module")
def bundle(demo_session, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sbx-reports-bundle") / "evidence.tar.zst"
    assert main(["bundle", str(demo_session / "store.sqlite"), str(out), "--quiet"]) == 0
    return out


def _members(path: Path) -> dict[str, bytes]:
    with open(path, "rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as zr, \
            tarfile.open(fileobj=zr, mode="r|") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar}


def _repack(members: dict[str, bytes], out: Path, links: tuple[str, ...] = ()) -> Path:
    with open(out, "wb") as raw, zstandard.ZstdCompressor().stream_writer(raw) as zw, \
            tarfile.open(fileobj=zw, mode="w|") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name in links:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
    return out


def test_bundle_holds_recordings_profile_reports_and_a_manifest_sha256sum_accepts(bundle, demo, tmp_path):
    assert bundle.stat().st_mode & 0o077 == 0
    members = _members(bundle)
    names = {n.removeprefix(TOP + "/") for n in members}
    assert {"bundle.json", "MANIFEST.sha256", "profile.toml", "report.json", "report.xml", "report.sarif",
            "report.html", "captures/000-demo.pcapng"} == names
    assert members[f"{TOP}/captures/000-demo.pcapng"] == demo[1].read_bytes()
    meta = json.loads(members[f"{TOP}/bundle.json"])
    assert meta["runs"][0]["path"] == str(demo[0]) and meta["verdict"] == "leak" and meta["findings"]
    subprocess.run(["tar", "--zstd", "-xf", str(bundle), "-C", str(tmp_path)], check=True)
    check = subprocess.run(["sha256sum", "-c", "MANIFEST.sha256"], cwd=tmp_path / TOP, capture_output=True, text=True)
    assert check.returncode == 0 and check.stdout.count(": OK") == len(names) - 1
    html = members[f"{TOP}/report.html"].decode()
    assert "Evidence manifest (SHA-256)" in html and "<svg" in html


def test_replay_of_the_bundle_reproduces_the_findings(bundle, demo_session, tmp_path, capsys):
    status = main(["replay", "--bundle", str(bundle), "--json", str(tmp_path / "again.json"), "--junit",
                   str(tmp_path / "again.xml")])
    assert status == 1
    again = json.loads((tmp_path / "again.json").read_text())
    first = json.loads((demo_session / "r.json").read_text())
    assert [f["id"] for f in again["findings"]] == [f["id"] for f in first["findings"]]
    assert [f["waived"] for f in again["findings"]] == [f["waived"] for f in first["findings"]]
    assert again["profile"]["sha256"] == first["profile"]["sha256"]
    n = len(first["findings"])
    assert f"bundle: {n} of {n} findings reproduced" in capsys.readouterr().out


def test_a_bundle_against_another_run_folder_is_refused(bundle, tmp_path, capsys):
    from sandbox.simulate.runfolder import make_illumina_run

    other = make_illumina_run(tmp_path / "runs", seed=5, reads_per_sample=50, with_bcl=False)
    assert main(["replay", "--bundle", str(bundle), "--run", str(other), "--quiet"]) == 2
    assert "the bundle was made against" in capsys.readouterr().err


def test_altered_evidence_is_refused(bundle, tmp_path):
    members = _members(bundle)
    cap = f"{TOP}/captures/000-demo.pcapng"
    members[cap] = members[cap][:-1] + bytes([members[cap][-1] ^ 1])
    with pytest.raises(BundleError, match="does not match its SHA-256"):
        open_bundle(_repack(members, tmp_path / "x.tar.zst"), tmp_path / "x")


@pytest.mark.parametrize("change, message", [
    (lambda m: m.pop(f"{TOP}/MANIFEST.sha256"), "has no MANIFEST.sha256"),
    (lambda m: m.update({f"{TOP}/../evil": b"x"}), "not one a bundle has"),
    (lambda m: m.update({f"{TOP}/captures/000-x/../../evil": b"x"}), "not one a bundle has"),
    (lambda m: m.update({"/etc/cron.d/evil": b"x"}), "outside sandbox-evidence"),
    (lambda m: m.update({f"{TOP}/notes.txt": b"x"}), "not one a bundle has"),
    (lambda m: m.update({f"{TOP}/keys/001-extra.log": b"x"}), "not in its MANIFEST"),
    (lambda m: m.pop(f"{TOP}/report.html"), "lacks report.html"),
])
def test_a_bundle_that_is_not_what_it_says_is_refused(bundle, tmp_path, change, message):
    members = _members(bundle)
    change(members)
    with pytest.raises(BundleError, match=message):
        open_bundle(_repack(members, tmp_path / "x.tar.zst"), tmp_path / "x")
    assert not (tmp_path / "evil").exists()


def test_links_and_garbage_are_refused(bundle, tmp_path, capsys):
    members = _members(bundle)
    with pytest.raises(BundleError, match="not a regular file"):
        open_bundle(_repack(members, tmp_path / "l.tar.zst", links=(f"{TOP}/keys/000-k",)), tmp_path / "l")
    (tmp_path / "g.tar.zst").write_bytes(b"\x28\xb5\x2f\xfd" + b"garbage" * 100)
    with pytest.raises(BundleError, match="not a readable bundle"):
        open_bundle(tmp_path / "g.tar.zst", tmp_path / "g")
    assert main(["replay", "--bundle", str(tmp_path / "g.tar.zst"), "--quiet"]) == 2
    assert capsys.readouterr().err.startswith("sandbox: error: ")


def test_bundle_command_takes_a_session_folder_and_refuses_what_it_cannot_pack(demo_session, tmp_path, capsys):
    assert main(["bundle", str(demo_session), str(tmp_path / "a.tar.zst"), "--quiet"]) == 0   # store.sqlite inside
    assert main(["bundle", str(tmp_path), str(tmp_path / "b.tar.zst")]) == 2                   # no store there
    assert main(["bundle", str(demo_session / "store.sqlite"), str(tmp_path / "b.zip")]) == 2
    assert not (tmp_path / "b.zip").exists()


def test_a_recording_that_is_gone_cannot_be_bundled(tmp_path, demo):
    run_dir, capture = demo
    copy = tmp_path / "copy.pcapng"
    copy.write_bytes(capture.read_bytes())
    assert main(["replay", str(copy), "--run", str(run_dir), "--db", str(tmp_path / "s.sqlite"), "--quiet"]) == 1
    copy.unlink()
    with pytest.raises(BundleError, match="the session's file is gone"):
        write_bundle(tmp_path / "s.sqlite", tmp_path / "x.tar.zst")
    assert not (tmp_path / "x.tar.zst").exists()


def test_a_session_of_a_postgresql_store_is_bundled_on_the_rig_that_recorded_it(demo, postgres_url, tmp_path,
                                                                               capsys):
    run_dir, capture = demo
    copy = tmp_path / "elsewhere.pcapng"
    copy.write_bytes(capture.read_bytes())
    assert main(["replay", str(copy), "--run", str(run_dir), "--db", postgres_url, "--rig", "bench-far",
                 "--quiet"]) == 1
    copy.unlink()               # recorded on another rig: its file is not on this machine
    assert main(["replay", str(capture), "--run", str(run_dir), "--db", postgres_url, "--quiet",
                 "--json", str(tmp_path / "wrote.json")]) == 1
    out = tmp_path / "pg.tar.zst"
    assert main(["bundle", postgres_url, str(out), "--quiet"]) == 0          # the newest session: this rig's
    meta = json.loads(_members(out)[f"{TOP}/bundle.json"])
    assert meta["findings"] == [f["id"] for f in json.loads((tmp_path / "wrote.json").read_text())["findings"]]
    html = _members(out)[f"{TOP}/report.html"].decode()
    assert "<svg" in html and "No store was kept" not in html
    assert main(["replay", "--bundle", str(out), "--run", str(run_dir), "--quiet",
                 "--report", str(tmp_path / "again.json")]) == 1
    again = json.loads((tmp_path / "again.json").read_text())
    assert [f["id"] for f in again["findings"]] == meta["findings"]
    capsys.readouterr()
    store = Store(postgres_url, readonly=True, session_id=None)
    far = [sid for (sid,) in store.backend.run("SELECT session_id FROM sessions WHERE rig = 'bench-far'")][0]
    store.close()
    assert main(["bundle", postgres_url, str(tmp_path / "far.tar.zst"), "--session", far, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "recorded on rig bench-far: bundle it there" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "far.tar.zst").exists()
