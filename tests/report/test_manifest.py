import hashlib
import io

from sandbox.report.manifest import evidence_manifest, session_evidence, sha256_stream, sha256sum_lines


def test_manifest_hashes_each_file_and_lists_missing_ones(tmp_path):
    (tmp_path / "a.pcapng").write_bytes(b"abc" * 1000)
    items = [("capture", "a.pcapng", tmp_path / "a.pcapng"), ("TLS key log", "k.log", tmp_path / "k.log")]
    got = evidence_manifest(items)
    assert got[0] == {"role": "capture", "path": "a.pcapng", "bytes": 3000,
                      "sha256": hashlib.sha256(b"abc" * 1000).hexdigest()}
    assert got[1]["sha256"] is None and got[1]["missing"]        # listed, never silently left out


def test_a_growing_recording_is_hashed_up_to_a_limit():
    assert sha256_stream(io.BytesIO(b"x" * 10), limit=4) == (hashlib.sha256(b"xxxx").hexdigest(), 4)


def test_session_evidence_resolves_relative_names_against_the_sessions_folder(tmp_path):
    report = {"captures": [{"path": "caps/a.pcapng"}, {"path": "/abs/b.pcapng"}],
              "profile": {"source": "p.toml"}}
    items = session_evidence(report, {"cwd": str(tmp_path), "keylogs": ["/k/keys.log"]})
    assert items == [("capture", "caps/a.pcapng", tmp_path / "caps/a.pcapng"),
                     ("capture", "/abs/b.pcapng", tmp_path / "/abs/b.pcapng"),
                     ("TLS key log", "/k/keys.log", tmp_path / "/k/keys.log"),
                     ("acceptance profile", "p.toml", tmp_path / "p.toml")]
    assert str(items[1][2]) == "/abs/b.pcapng"


def test_sha256sum_format():
    assert sha256sum_lines([("ab" * 32, "captures/000-a.pcapng")]) == "ab" * 32 + "  captures/000-a.pcapng\n"
