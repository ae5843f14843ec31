"""The network tap in transparent mode on a bench of namespaces made here: instrument - rig - cloud.

Real clients in "instrument" (trusting the rig's CA) send run data to real servers in "cloud"; the
rig redirects their TCP to mitmproxy with its own nftables rules, finds every leak live, and the
recording replays to the same findings.  With --block the servers never get the run data.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import pytest

from hw.net.dumpcap import ifindex
from sandbox.protocols.flows import CONTESTED, FORGED_IN, RESENT_OUT, URGENT_OUT
from sandbox.simulate import ensure_demo
from tests.brokers import mosquitto, rabbitmq
from tests.hw.net.instrument import reads, upload_line
from tests.hw.net.rig import (
    REPO,
    WAIT_S,
    chains,
    cloud_servers,
    end,
    essence,
    replay,
    rows,
    sandbox,
    wait_for,
)
from tests.hw.net.topology import CLOUD_IP, CLOUD_NAME, INSTRUMENT_IP, OTHER_IP, RIG_IN_IP, bench
from tests.processes import stop_group
from tests.samba import samba_server

pytestmark = pytest.mark.e2e
ALLOW = [CLOUD_NAME, "10.231.2.0/24", RIG_IN_IP]
SCENARIOS = ["curl", "chunked-gzip", "s3", "websocket", "grpc", "raw-tls", "dns"]
UDP_READS_JUDGED = "SELECT 1 FROM findings WHERE flow LIKE 'udp %:9999' AND detail LIKE '%carries run data%'"
# what the rig takes for the instrument's side on the bench: its network, not the rig's own address
INSTRUMENT_SIDE = ["10.231.1.0/24", f"!{RIG_IN_IP}"]


@pytest.fixture()
def demo() -> Path:
    return ensure_demo(REPO / "captures" / "demo")[0]


@pytest.fixture()
def topo(tmp_path):
    with bench(f"sbx-net-{os.getpid() % 100000}") as b, cloud_servers(b, tmp_path) as (pki, received):
        yield b, pki, received


def rig(tmp_path: Path, b, pki, run_dir: Path, *extra: str, allow: list[str] = ALLOW, mode: str = "transparent"):
    rec, db, report = tmp_path / "rec", tmp_path / "store.sqlite", tmp_path / "live.json"
    proc = sandbox("watch", "--run", str(run_dir), "--mode", mode, "--netns", b.rig, "--iface", b.rig_iface,
                   "--listen", "0.0.0.0:8080", "--ca-dir", str(tmp_path / "ca"), "--upstream-ca", str(pki.ca),
                   "--record", str(rec), "--db", str(db), "--report", str(report), "--quiet",
                   "--cache-dir", str(tmp_path / "cache"), *(["--allow", *allow] if allow else []), *extra)
    wait_for(lambda: rows(db, "SELECT value FROM session WHERE key = 'live'"), "the session to start", proc)
    return proc, rec, db, report


def client(b, tmp_path: Path, run_dir: Path, scenario: str) -> subprocess.CompletedProcess:
    return b.run(b.instrument, [sys.executable, "-m", "tests.hw.net.instrument", scenario, str(run_dir),
                                str(tmp_path / "ca" / "mitmproxy-ca-cert.pem"), CLOUD_NAME], timeout=WAIT_S, cwd=REPO)


def play(b, tmp_path: Path, run_dir: Path, expected: list[tuple[str, int]]) -> None:
    """Each scenario from the instrument, with the exit it must give (0: it went through, 3: cut)."""
    for scenario, code in expected:
        done = client(b, tmp_path, run_dir, scenario)
        assert done.returncode == code, f"{scenario}: {done.stdout} {done.stderr[-1500:]}"


def nft_tables(b) -> str:
    return b.run(b.rig, ["nft", "list", "tables"]).stdout


def test_every_leak_is_found_live_and_the_recording_replays_the_same(demo, topo, tmp_path):
    b, pki, received = topo
    proc, rec, db, report = rig(tmp_path, b, pki, demo)
    try:
        assert "sbx_tap_" in nft_tables(b)
        for scenario in SCENARIOS:
            done = client(b, tmp_path, demo, scenario)
            assert done.returncode == 0, f"{scenario}: {done.stderr[-1500:]}"
        wait_for(lambda: rows(db, "SELECT 1 FROM findings WHERE severity_rank >= 3"), "a live high finding", proc)
    finally:
        _, err = end(proc)
    assert proc.returncode == 1, err
    assert "sbx_tap_" not in nft_tables(b)          # the rig removed its redirect
    live = json.loads(report.read_text())
    assert any("QUIC was refused" in n for n in live["notes"])
    chain_text = json.dumps([f["chain"] for f in live["findings"]])
    for label in ("http/2", "websocket", "grpc", "content-encoding:gzip", "tunnel" if False else "tls"):
        assert label in chain_text, label
    assert {"run-bytes", "sequence", "dns-tunnel"} <= {k for f in live["findings"] for k in [f["kind"], *f["evidence_kinds"]]}
    samples = {s for f in live["findings"] for s in f["samples"]}
    assert {"PT9936-T1", "PT5698-N1", "PT9006-B1"} <= samples
    code, again = replay(rec / "net.pcapng", demo, tmp_path, *ALLOW)
    assert code == 1
    assert essence(live) == essence(again)
    assert chains(live) == chains(again)


def test_block_keeps_the_run_data_from_the_cloud(demo, topo, tmp_path):
    b, pki, received = topo
    proc, rec, db, report = rig(tmp_path, b, pki, demo, "--block")
    try:
        for scenario in ("curl", "chunked-gzip", "s3", "grpc", "websocket"):
            done = client(b, tmp_path, demo, scenario)
            assert done.returncode == 3, f"{scenario} was not cut: {done.stdout} {done.stderr[-1500:]}"
        # raw TCP in TLS: its messages are held as requests are (the client cannot tell a cut from an
        # end: what the server got says it, and the finding)
        client(b, tmp_path, demo, "raw-tls")
        wait_for(lambda: rows(db, "SELECT 1 FROM findings WHERE flow LIKE '%:9443' AND kind = 'run-bytes' "
                                  "AND detail LIKE '%carries run data%'"), "the raw stream judged", proc,
                 logs=(rec / "mitmdump.log", received))
    finally:
        _, err = end(proc)
    assert proc.returncode == 1, err
    got = [json.loads(line) for line in received.read_text().splitlines()]
    assert not [g for g in got if g["bytes"] > 1000], got       # no run data reached a server
    live = json.loads(report.read_text())
    leaks = [f for f in live["findings"] if f["kind"] in ("run-bytes", "sequence")]
    assert leaks and all(f["detail"].get("blocked") for f in leaks)
    assert any(f["chain"][-1] == "tls" and f["flow"].endswith(":9443") for f in leaks)
    code, again = replay(rec / "net.pcapng", demo, tmp_path, *ALLOW)
    assert essence(live) == essence(again)


def test_block_refuses_the_cloud_s_name_at_an_address_nobody_vouched_for(demo, topo, tmp_path):
    """In transparent mode the instrument picks the address.  A connect waits for the analysis, which
    knows the bench resolver's answers: the cloud's name at the address it was given passes, the same
    name at another address is refused before that server sees a connection (its server name could
    carry data), and the finding is named by the address, unverified, blocked."""
    b, pki, received = topo
    proc, rec, db, report = rig(tmp_path, b, pki, demo, "--block", allow=[CLOUD_NAME])
    try:
        for scenario, code in (("status", 0), ("status-elsewhere", 3), ("raw-status", 0), ("raw-status-elsewhere", 3)):
            done = client(b, tmp_path, demo, scenario)
            assert done.returncode == code, f"{scenario}: {done.stdout} {done.stderr[-1500:]}"
    finally:
        _, err = end(proc)
    got = [json.loads(line) for line in received.read_text().splitlines()]
    assert [g["bytes"] for g in got if g["service"] == "https"] == [len(b'{"state": "idle"}')]   # the vouched one
    assert [g["bytes"] for g in got if g["service"] == "raw-tls"] == [len(b"status=idle;run=none\n")]
    live = json.loads(report.read_text())
    (elsewhere,) = [f for f in live["findings"] if f["kind"] == "destination" and f["destination"] == OTHER_IP]
    assert elsewhere["detail"]["blocked"] == f"nobody the rig trusts vouched for {OTHER_IP} as {CLOUD_NAME}"
    assert elsewhere["detail"]["flow_count"] == 2 and elsewhere["detail"]["unverified_names"] == [CLOUD_NAME]
    assert not [f for f in live["findings"] if f["destination"] == CLOUD_NAME and f["severity"] != "info"]
    code, again = replay(rec / "net.pcapng", demo, tmp_path, CLOUD_NAME)
    assert essence(live) == essence(again)


def test_block_believes_no_dns_answer_the_instrument_forged_in_the_resolver_s_name(demo, topo, tmp_path):
    """The instrument puts on its link an answer in the bench resolver's name giving the cloud's name
    the other server's address, then sends its status there under the cloud's name.  The rig records
    its link with the side each packet came from: the answer arrived from the instrument's side, so
    it vouches for nothing, and the connect is refused as if no answer had been given (on the old
    recording it passed).  The report says a packet was forged; the session's bundle replays the same."""
    b, pki, received = topo
    proc, rec, db, report = rig(tmp_path, b, pki, demo, "--block", allow=[CLOUD_NAME])
    try:
        play(b, tmp_path, demo, [("status-elsewhere-after-a-forged-answer", 3), ("status", 0)])
    finally:
        _, err = end(proc)
    assert proc.returncode == 3, err
    got = [json.loads(line) for line in received.read_text().splitlines()]
    assert [g["bytes"] for g in got if g["service"] == "https"] == [len(b'{"state": "idle"}')]   # the vouched one
    live = json.loads(report.read_text())
    (elsewhere,) = [f for f in live["findings"] if f["kind"] == "destination" and f["destination"] == OTHER_IP]
    assert elsewhere["detail"]["blocked"] == f"nobody the rig trusts vouched for {OTHER_IP} as {CLOUD_NAME}"
    (forged,) = [n for n in live["not_examined"] if n["what"] == FORGED_IN]
    assert forged["where"] == f"udp {INSTRUMENT_IP}:40053 > {CLOUD_IP}:53" and forged["packets"] == 1
    link = f"link:{ifindex(b.rig_iface, b.rig)}"
    code, again = replay(rec / "net.pcapng", demo, tmp_path, CLOUD_NAME, instrument=[*INSTRUMENT_SIDE, link])
    assert code == 3 and essence(live) == essence(again) and again["not_examined"] == live["not_examined"]
    bundle, out = tmp_path / "session.tar.zst", tmp_path / "bundled.json"
    for args in (["bundle", str(db), str(bundle)],
                 ["replay", "--bundle", str(bundle), "--run", str(demo), "--report", str(out), "--cache-dir",
                  str(tmp_path / "cache")]):
        done = sandbox(*args, "--quiet")
        _, err = done.communicate(timeout=WAIT_S)
        assert done.returncode in (0, 3), err
    assert essence(json.loads(out.read_text())) == essence(live)


def test_block_holds_what_mitmproxy_does_not_carry_dns_udp_and_pings(demo, topo, tmp_path):
    """mitmproxy carries TCP only in transparent mode: with --block the instrument's UDP and pings wait
    in a kernel queue for the judge.  The status line passes (its name looked up through the held DNS)
    and so does a plain ping and a plain TCP line; reads in plain TCP, in the names of DNS queries, in
    UDP datagrams and in a ping never reach the cloud; nothing of the rig's rules is left behind."""
    b, pki, received = topo
    proc, rec, db, report = rig(tmp_path, b, pki, demo, "--block", allow=[CLOUD_NAME])
    try:
        assert "SBX_HOLD_" in b.run(b.rig, ["iptables", "-S"]).stdout
        play(b, tmp_path, demo, [("status", 0), ("ping", 0), ("plain", 0), ("plain-reads", 3), ("udp", 0),
                                 ("ping-reads", 3), ("dns", 3)])
        wait_for(lambda: rows(db, UDP_READS_JUDGED), "the UDP reads judged", proc)
    finally:
        _, err = end(proc)
    assert proc.returncode == 1, err
    assert not b.run(b.rig, ["nft", "list", "ruleset"]).stdout.strip()     # no table, chain or rule left
    got = [json.loads(line) for line in received.read_text().splitlines()]
    assert [g["bytes"] for g in got if g["service"] == "https"] == [len(b'{"state": "idle"}')]
    assert [g for g in got if g["service"] == "dns"]                         # the status line's lookups
    assert not [g for g in got if g["service"] == "dns" and g["bytes"] > 100]   # no query of reads
    assert not [g for g in got if g["service"] == "udp"]
    # plain TCP reaches the analysis through the raw recording only: each message waits for its bytes
    # there; the connection of reads is refused once mitmproxy has its first message, before the sink
    # hears of it, or cut before that message leaves
    plain = sorted(g["bytes"] for g in got if g["service"] == "plain")
    assert plain in ([len(b"status=idle;run=none\n")], [0, len(b"status=idle;run=none\n")]), plain
    live = json.loads(report.read_text())
    leaks = [f for f in live["findings"] if {"run-bytes", "sequence"} & {f["kind"], *f["evidence_kinds"]}]
    assert sorted(f["flow"].split(" ", 1)[0] + " " + f["flow"].split(" > ")[1] for f in leaks) == [
        "icmp 10.231.2.2:23308", "tcp 10.231.2.2:9000", "udp 10.231.2.2:53", "udp 10.231.2.2:9999"]
    assert all(f["detail"]["blocked"].startswith("carries run data") for f in leaks)
    assert any(n.startswith("--block held ") for n in live["notes"]), live["notes"]
    code, again = replay(rec / "net.pcapng", demo, tmp_path, CLOUD_NAME)
    assert essence(live) == essence(again)


def test_segments_the_receiver_drops_hide_no_reads_live_or_in_replay(demo, topo, tmp_path):
    """The instrument forges, on its own connections, what mitmproxy's kernel drops: the whole upload
    first in other bytes with a stale timestamp (PAWS), or a RST far outside the window (before plain
    TCP, and inside TLS); or it sends a junk byte urgent in every 20, which the kernel takes out of the
    stream.  The kernel reads the real bytes, so the cloud gets the reads; the rig finds them live on
    each connection, says where it saw two versions of the same bytes or urgent ones, and the
    recording replays the same."""
    b, pki, received = topo
    proc, rec, db, report = rig(tmp_path, b, pki, demo, allow=[CLOUD_NAME])
    try:
        play(b, tmp_path, demo, [(scenario, 0) for scenario in (
            "plain-reads-behind-junk", "plain-reads-after-a-forged-reset", "plain-reads-with-urgent-bytes",
            "tls-reads-after-a-forged-reset")])
        wait_for(lambda: len(rows(db, "SELECT 1 FROM findings WHERE severity_rank >= 3 AND flow LIKE '%:9%'")) >= 4,
                 "the four uploads found live", proc)
    finally:
        _, err = end(proc)
    assert proc.returncode == 1, err
    heads = [g["head"] for g in (json.loads(line) for line in received.read_text().splitlines())
             if g["service"] == "plain"]
    assert heads == [upload_line(demo)[:64].hex()] * 3       # the real bytes, not the forged or urgent ones
    live = json.loads(report.read_text())
    leaks = [f for f in live["findings"] if f["severity"] in ("high", "critical")]
    assert sorted(f["flow"].rsplit(" > ", 1)[1] for f in leaks) == ["10.231.2.2:9000"] * 3 + ["10.231.2.2:9443"]
    (urgent,) = [n for n in live["not_examined"] if n["what"] == URGENT_OUT]
    assert urgent["bytes"] == len(upload_line(demo)) // 20
    (twice,) = [n for n in live["not_examined"] if n["what"] == RESENT_OUT]
    assert twice["bytes"] >= 20000
    code, again = replay(rec / "net.pcapng", demo, tmp_path, CLOUD_NAME)
    assert code == 1 and essence(live) == essence(again)
    assert [n for n in again["not_examined"] if n["what"] in (RESENT_OUT, URGENT_OUT)] == [
        n for n in live["not_examined"] if n["what"] in (RESENT_OUT, URGENT_OUT)]


def test_which_end_is_the_instrument_is_no_guess_a_forged_packet_steers(demo, topo, tmp_path):
    """The instrument sends, in the cloud's name, a SYN to the port its upload then leaves from, or a
    datagram to the port its UDP reads leave from: taken for the opener, the cloud would be the
    instrument and the reads its download.  The rig knows its instrument side (the network on its
    --iface but its own address): both are leaks live, and the recording replays the same given that
    side (a bundle of the session carries it); without it, the TCP one is inconclusive, not clean."""
    b, pki, received = topo
    proc, rec, db, report = rig(tmp_path, b, pki, demo, allow=[CLOUD_NAME])
    try:
        play(b, tmp_path, demo, [("plain-reads-after-a-forged-syn", 0), ("udp-reads-after-a-forged-datagram", 0)])
        wait_for(lambda: len(rows(db, "SELECT 1 FROM findings WHERE severity_rank >= 3")) >= 2,
                 "both uploads found live", proc)
    finally:
        _, err = end(proc)
    assert proc.returncode == 1, err
    live = json.loads(report.read_text())
    leaks = [f for f in live["findings"] if f["severity"] in ("high", "critical")]
    assert sorted((f["flow"].split(" ", 1)[0], f["flow"].split(" ", 1)[1].startswith(INSTRUMENT_IP),
                   f["flow"].rsplit(" > ", 1)[1]) for f in leaks) == [
        ("tcp", True, f"{CLOUD_IP}:9000"), ("udp", True, f"{CLOUD_IP}:9999")]
    code, again = replay(rec / "net.pcapng", demo, tmp_path, CLOUD_NAME, instrument=INSTRUMENT_SIDE)
    assert code == 1 and essence(live) == essence(again)
    code, guessed = replay(rec / "net.pcapng", demo, tmp_path, CLOUD_NAME)
    assert code in (1, 3) and [n["what"] for n in guessed["not_examined"]].count(CONTESTED) == 1


def test_block_refuses_reads_behind_segments_the_receiver_drops(demo, topo, tmp_path):
    b, pki, received = topo
    proc, rec, db, report = rig(tmp_path, b, pki, demo, "--block", allow=[CLOUD_NAME])
    try:
        play(b, tmp_path, demo, [("plain-reads-behind-junk", 3), ("plain-reads-after-a-forged-reset", 3),
                                 ("plain-reads-after-a-forged-syn", 3), ("udp-reads-after-a-forged-datagram", 0)])
        wait_for(lambda: rows(db, UDP_READS_JUDGED), "the UDP reads judged", proc)
    finally:
        _, err = end(proc)
    assert proc.returncode == 1, err
    assert not [g for g in (json.loads(line) for line in received.read_text().splitlines())
                if g["service"] in ("plain", "udp") and g["bytes"] > len(b"hello")]
    live = json.loads(report.read_text())
    leaks = [f for f in live["findings"] if f["severity"] in ("high", "critical")]
    assert sorted(f["flow"].rsplit(" > ", 1)[1] for f in leaks) == [f"{CLOUD_IP}:9000"] * 3 + [f"{CLOUD_IP}:9999"]
    assert all(f["detail"]["blocked"] for f in leaks)
    code, again = replay(rec / "net.pcapng", demo, tmp_path, CLOUD_NAME, instrument=INSTRUMENT_SIDE)
    assert essence(live) == essence(again)


def test_block_keeps_a_name_made_of_reads_from_the_proxy_s_resolver(demo, topo, tmp_path):
    """Regular mode on the bench: the instrument asks the rig's proxy for a name under the allowed
    cloud's made of a read.  A proxy resolving it would hand the read to the resolver, so the connect
    waits for the analysis, which finds the read in the CONNECT line: refused, never looked up."""
    b, pki, received = topo
    proc, rec, db, report = rig(tmp_path, b, pki, demo, "--block", allow=[CLOUD_NAME], mode="regular")
    try:
        done = client(b, tmp_path, demo, "proxy-name-of-reads")
        assert done.returncode == 3, f"{done.stdout} {done.stderr[-1500:]}"
    finally:
        _, err = end(proc)
    read = json.dumps(reads(demo, "PT9936", 1)[0][:20].lower()).strip('"').encode().hex()
    lookups = [g["head"] for g in (json.loads(line) for line in received.read_text().splitlines())
               if g["service"] == "dns"]
    assert not [h for h in lookups if read in h], "the proxy looked up the name of reads"
    live = json.loads(report.read_text())
    (carried,) = [f for f in live["findings"] if f["kind"] in ("sequence", "run-bytes")]
    assert carried["detail"]["blocked"].startswith("carries run data")
    assert carried["chain"][1].startswith("http/1.1 CONNECT")
    code, again = replay(rec / "net.pcapng", demo, tmp_path, CLOUD_NAME)
    assert essence(live) == essence(again)


def test_an_sftp_upload_is_an_opaque_upload_live_and_in_replay(demo, topo, tmp_path):
    """SSH passes mitmproxy as raw TCP: its run data cannot be read, but the upload is named (the
    banners), counted, and big enough to carry run data it is an opaque upload, live as in replay."""
    b, pki, received = topo
    proc, rec, db, report = rig(tmp_path, b, pki, demo, allow=[])
    try:
        done = client(b, tmp_path, demo, "sftp")
        assert done.returncode == 0, done.stderr[-1500:]
        wait_for(lambda: rows(db, "SELECT 1 FROM findings WHERE kind = 'opaque-volume'"), "a live opaque upload", proc)
    finally:
        _, err = end(proc)
    got = [json.loads(line) for line in received.read_text().splitlines()]
    sent = (demo / "Data" / "Intensities" / "BaseCalls")
    size = next(sent.glob("PT9936*.fastq.gz")).stat().st_size
    assert [g["bytes"] for g in got if g["service"] == "sftp"] == [size]      # it did reach the server
    live = json.loads(report.read_text())
    (opaque,) = [f for f in live["findings"] if f["kind"] == "opaque-volume"]
    assert opaque["detail"]["app"] == "ssh" and opaque["bytes_out"] > size
    (named,) = [f for f in live["findings"] if f["kind"] == "encrypted" and f["chain"][-1] == "ssh"]
    assert named["detail"]["client"].startswith("SSH-2.0-AsyncSSH")
    code, again = replay(rec / "net.pcapng", demo, tmp_path)
    assert essence(live) == essence(again) and chains(live) == chains(again)


def test_a_run_copied_to_a_share_is_found_live_and_in_replay(demo, topo, tmp_path):
    """SMB passes mitmproxy as raw TCP: smbclient in "instrument" puts a run's reads on a Samba share in
    "cloud"; the rig names the file written, live as in the replay of its recording."""
    b, pki, received = topo
    fastq = next((demo / "Data" / "Intensities" / "BaseCalls").glob("PT9936*.fastq.gz"))
    with samba_server(tmp_path / "samba", CLOUD_IP, 445, wrap=lambda args: b.cmd(b.cloud, args)) as share:
        proc, rec, db, report = rig(tmp_path, b, pki, demo)
        try:
            done = b.run(b.instrument, ["smbclient", f"//{CLOUD_IP}/share", "-N", "-c",
                                        f"mkdir Run42; put {fastq} Run42\\reads.fastq.gz"], timeout=WAIT_S)
            assert done.returncode == 0, done.stdout + done.stderr
            wait_for(lambda: rows(db, "SELECT 1 FROM findings WHERE chain LIKE '%smb2 WRITE%'"),
                     "a live finding in the file written", proc)
        finally:
            _, err = end(proc)
        assert (share / "Run42" / "reads.fastq.gz").read_bytes() == fastq.read_bytes()
    assert proc.returncode == 1, err
    live = json.loads(report.read_text())
    (leak,) = [f for f in live["findings"] if f["kind"] == "run-bytes"]
    assert leak["chain"][-1] == rf"smb2 WRITE \\{CLOUD_IP}\share\Run42\reads.fastq.gz"
    assert leak["samples"] == ["PT9936-T1"] and leak["severity"] in ("high", "critical")
    code, again = replay(rec / "net.pcapng", demo, tmp_path, *ALLOW)
    assert code == 1
    assert essence(live) == essence(again) and chains(live) == chains(again)


def test_block_keeps_a_run_copied_to_a_share_from_the_share(demo, topo, tmp_path):
    """With --block each SMB message is held until judged: the first write of run data is refused,
    its connection cut, and the share never holds the run's bytes."""
    b, pki, received = topo
    fastq = next((demo / "Data" / "Intensities" / "BaseCalls").glob("PT9936*.fastq.gz"))
    with samba_server(tmp_path / "samba", CLOUD_IP, 445, wrap=lambda args: b.cmd(b.cloud, args)) as share:
        proc, rec, db, report = rig(tmp_path, b, pki, demo, "--block")
        try:
            done = b.run(b.instrument, ["smbclient", f"//{CLOUD_IP}/share", "-N", "-c",
                                        f"put {fastq} reads.fastq.gz"], timeout=WAIT_S)
            assert done.returncode != 0, done.stdout + done.stderr     # cut
            wait_for(lambda: rows(db, "SELECT 1 FROM findings WHERE chain LIKE '%smb2 WRITE%' "
                                      "AND detail LIKE '%carries run data%'"), "the write judged", proc)
        finally:
            _, err = end(proc)
        written = share / "reads.fastq.gz"
        assert not written.exists() or written.stat().st_size == 0, "run data reached the share"
    assert proc.returncode == 1, err
    live = json.loads(report.read_text())
    leaks = [f for f in live["findings"] if f["kind"] == "run-bytes"]
    assert leaks and all(f["detail"].get("blocked") for f in leaks)
    code, again = replay(rec / "net.pcapng", demo, tmp_path, *ALLOW)
    assert essence(live) == essence(again)


@contextmanager
def tftp_server(b, root: Path):
    """An in.tftpd of the test's own in "cloud" on port 69 (a folder it may create files in)."""
    if not Path("/usr/sbin/in.tftpd").exists():
        pytest.skip("tftpd-hpa not installed")
    root.mkdir(parents=True)
    root.chmod(0o777)
    proc = subprocess.Popen(b.cmd(b.cloud, ["/usr/sbin/in.tftpd", "-L", "-s", "-c", "-u", "root", "-a", f"{CLOUD_IP}:69",
                                            str(root)]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        yield root
    finally:
        stop_group(proc, timeout=10)


def test_a_run_file_sent_by_tftp_is_found_live_and_in_replay(demo, topo, tmp_path):
    """TFTP is UDP, which mitmproxy does not carry: the rig reads it from its recording, live.  The server
    answers the write request from a port of its own; the transfer is the instrument's named file, live
    as in the replay."""
    b, pki, received = topo
    fastq = next((demo / "Data" / "Intensities" / "BaseCalls").glob("PT9936*.fastq.gz"))
    with tftp_server(b, tmp_path / "tftp") as root:
        proc, rec, db, report = rig(tmp_path, b, pki, demo)
        try:
            done = b.run(b.instrument, ["tftp", CLOUD_IP, "-m", "binary", "-c", "put", str(fastq), "reads.fastq.gz"],
                         timeout=WAIT_S)
            assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr
            wait_for(lambda: rows(db, "SELECT 1 FROM findings WHERE chain LIKE '%tftp WRQ reads.fastq.gz%'"),
                     "a live finding in the file sent", proc)
        finally:
            _, err = end(proc)
        assert (root / "reads.fastq.gz").read_bytes() == fastq.read_bytes()
    assert proc.returncode == 1, err
    live = json.loads(report.read_text())
    (leak,) = [f for f in live["findings"] if f["kind"] == "run-bytes"]
    assert leak["chain"][-1] == "tftp WRQ reads.fastq.gz" and leak["samples"] == ["PT9936-T1"]
    code, again = replay(rec / "net.pcapng", demo, tmp_path, *ALLOW)
    assert code == 1
    assert essence(live) == essence(again) and chains(live) == chains(again)


def test_block_keeps_a_run_file_sent_by_tftp_from_the_server(demo, topo, tmp_path):
    """With --block the instrument's UDP waits in a kernel queue for the judge: the transfer's first
    block of run data is refused, and the server never holds the file."""
    b, pki, received = topo
    fastq = next((demo / "Data" / "Intensities" / "BaseCalls").glob("PT9936*.fastq.gz"))
    with tftp_server(b, tmp_path / "tftp") as root:
        proc, rec, db, report = rig(tmp_path, b, pki, demo, "--block")
        try:
            b.run(b.instrument, ["tftp", CLOUD_IP], timeout=WAIT_S,       # gives up 6 s after the block is held
                  input=f"binary\ntimeout 6\nput {fastq} reads.fastq.gz\nquit\n")
            wait_for(lambda: rows(db, "SELECT 1 FROM findings WHERE chain LIKE '%tftp WRQ%' "
                                      "AND detail LIKE '%carries run data%'"), "the transfer judged", proc)
        finally:
            _, err = end(proc)
        written = root / "reads.fastq.gz"
        assert not written.exists() or written.stat().st_size < 1024, "run data reached the server"
    assert proc.returncode == 1, err
    live = json.loads(report.read_text())
    leaks = [f for f in live["findings"] if f["kind"] == "run-bytes"]
    assert leaks and all(f["detail"].get("blocked") for f in leaks)


BROKERS = {"mqtt": (mosquitto, 1883, "mqtt PUBLISH run/PT9936"), "amqp": (rabbitmq, 5672, "amqp publish runs/run.PT9936"),
           "amqp1": (partial(rabbitmq, plugins=("rabbitmq_amqp1_0",)), 5672, "amqp1 transfer /queue/PT9936")}


@pytest.mark.parametrize("broker", BROKERS)
def test_a_run_published_to_a_broker_is_found_live_and_in_replay(demo, topo, tmp_path, broker):
    """MQTT and AMQP pass mitmproxy as raw TCP: a run file published 4 kB a message (paho-mqtt to
    Mosquitto, pika and Qpid Proton to RabbitMQ, in "cloud") is found in its messages by topic or link,
    live as in the replay."""
    b, pki, received = topo
    start, port, label = BROKERS[broker]
    with start(tmp_path / broker, CLOUD_IP, port, wrap=lambda args: b.cmd(b.cloud, args)):
        proc, rec, db, report = rig(tmp_path, b, pki, demo)
        try:
            done = client(b, tmp_path, demo, broker)
            assert done.returncode == 0, done.stdout + done.stderr[-1500:]
            wait_for(lambda: rows(db, f"SELECT 1 FROM findings WHERE chain LIKE '%{label}%'"),
                     "a live finding in the messages", proc)
        finally:
            _, err = end(proc)
    assert proc.returncode == 1, err
    live = json.loads(report.read_text())
    (leak,) = [f for f in live["findings"] if f["kind"] == "run-bytes"]
    assert leak["chain"][-1] == label and leak["samples"] == ["PT9936-T1"]
    code, again = replay(rec / "net.pcapng", demo, tmp_path, *ALLOW)
    assert code == 1
    assert essence(live) == essence(again) and chains(live) == chains(again)


@pytest.mark.parametrize("broker", BROKERS)
def test_block_cuts_a_run_published_to_a_broker(demo, topo, tmp_path, broker):
    """With --block each raw TCP message is held until judged: the first message of run data is
    refused and the connection cut; the finding says it was blocked."""
    b, pki, received = topo
    start, port, label = BROKERS[broker]
    with start(tmp_path / broker, CLOUD_IP, port, wrap=lambda args: b.cmd(b.cloud, args)):
        proc, rec, db, report = rig(tmp_path, b, pki, demo, "--block")
        try:
            done = client(b, tmp_path, demo, broker)
            assert done.returncode == 3, f"{broker} was not cut: {done.stdout} {done.stderr[-1500:]}"
            wait_for(lambda: rows(db, f"SELECT 1 FROM findings WHERE chain LIKE '%{label}%' "
                                      "AND detail LIKE '%carries run data%'"), "the message judged", proc)
        finally:
            _, err = end(proc)
    assert proc.returncode == 1, err
    live = json.loads(report.read_text())
    leaks = [f for f in live["findings"] if f["kind"] == "run-bytes"]
    assert leaks and all(f["detail"].get("blocked") for f in leaks)


def found_live_and_in_replay(topo, tmp_path: Path, demo: Path, scenario: str, label: str, what: str) -> list[dict]:
    """The leaks whose chain holds ``label`` of a live session in which the instrument runs ``scenario``
    (found live, as ``what``), the replay of its recording giving the same findings."""
    b, pki, _ = topo
    proc, rec, db, report = rig(tmp_path, b, pki, demo)
    try:
        done = client(b, tmp_path, demo, scenario)
        assert done.returncode == 0, done.stderr[-1500:]
        wait_for(lambda: rows(db, f"SELECT 1 FROM findings WHERE chain LIKE '%{label}%'"), what, proc)
    finally:
        _, err = end(proc)
    assert proc.returncode == 1, err
    live = json.loads(report.read_text())
    code, again = replay(rec / "net.pcapng", demo, tmp_path, *ALLOW)
    assert code == 1
    assert essence(live) == essence(again) and chains(live) == chains(again)
    return [f for f in live["findings"] if label in f["chain"]]


def test_reads_a_connection_a_piece_are_found_live_and_in_replay(demo, topo, tmp_path):
    """A beacon: reads 24 bytes a request, in a header, each request in a TLS connection of its own.  The
    values of the connections to one destination are read joined, live as in the replay."""
    leaks = found_live_and_in_replay(topo, tmp_path, demo, "beacons", "header:x-trace",
                                     "a live finding in the values joined")
    assert leaks and {f["destination"] for f in leaks} == {CLOUD_NAME}
    assert {s for f in leaks for s in f["samples"]} == {"PT9936-T1"}


def test_a_gzip_in_framed_records_is_found_live_and_in_replay(demo, topo, tmp_path):
    """Plain TCP passes mitmproxy as raw TCP: a gzip of reads behind noise in length-prefixed records of
    16 kB is read through its records' bodies, live as in the replay."""
    leaks = found_live_and_in_replay(topo, tmp_path, demo, "plain-records", "records",
                                     "a live finding in the records' bodies")
    assert leaks and {s for f in leaks for s in f["samples"]} == {"PT9936-T1"}


def test_reads_tunnelled_through_dns_over_https_are_found_live_and_in_replay(demo, topo, tmp_path):
    """Reads in the names of DNS queries POSTed over HTTPS (RFC 8484) to the cloud: the rig reads the
    queries inside the requests as DNS, a tunnel naming its zone, live as in the replay."""
    b, pki, received = topo
    proc, rec, db, report = rig(tmp_path, b, pki, demo)
    try:
        done = client(b, tmp_path, demo, "doh")
        assert done.returncode == 0, done.stderr[-1500:]
        wait_for(lambda: rows(db, "SELECT 1 FROM findings WHERE kind = 'dns-tunnel'"), "a live DNS tunnel", proc)
    finally:
        _, err = end(proc)
    live = json.loads(report.read_text())
    (tunnel,) = [f for f in live["findings"] if f["kind"] == "dns-tunnel"]
    assert tunnel["destination"] == "exfil.test" and tunnel["severity"] == "high"
    assert any("doh" in f["chain"] for f in live["findings"] if f["kind"] in ("run-bytes", "sequence"))
    code, again = replay(rec / "net.pcapng", demo, tmp_path, *ALLOW)
    assert essence(live) == essence(again) and chains(live) == chains(again)


def test_reads_in_the_identifications_of_empty_pings_are_found_live_and_in_replay(demo, topo, tmp_path):
    """Pings the rig forwards, without a byte of payload, carry reads in their IPv4 identification: read
    off the recording as a stream of that field, live as in the replay."""
    leaks = found_live_and_in_replay(topo, tmp_path, demo, "ping-identifications", "IPv4 identification",
                                     "a live finding in the identifications")
    assert leaks and {s for f in leaks for s in f["samples"]} == {"PT9936-T1"}
