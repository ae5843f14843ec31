"""``sandbox watch --serial`` end to end on socat PTY benches: the instrument prints reads and sends
run files with lrzsz (ZMODEM, XMODEM, YMODEM) through the rig to the host; the host receives exactly
what the instrument sent, the leaks are found while the session runs with the host port as their
destination, and the replay of the recording gives the same findings.  An unplugged cable is a gap
on the dashboard, several lines run in one session, garbage on the line breaks nothing, and a port
that is missing or busy is one line and exit 2."""

from __future__ import annotations

import gzip
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import serial

from dashboards import panels
from dashboards.queries import Reader
from sandbox.simulate import ensure_demo
from sandbox.simulate.ppp import ppp_session, upload_packets
from tests.hw.test_watch import essence, rows, wait_for
from tests.serialpty import BenchLine, open_end, read_exactly, serial_bench, write_all

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
WAIT_S = 120     # generous: a loaded 2-core machine; never a performance assertion
CALLS = "Data/Intensities/BaseCalls"
SENDER_GRACE_S = 15   # after the receiver is done; sx/sb then wait for a last ACK that may not come


@pytest.fixture(scope="module")
def demo() -> Path:
    return ensure_demo(REPO / "captures" / "demo")[0]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("index-cache")


def fastq(run_dir: Path, sample: str, size: int) -> bytes:
    """The first ``size`` bytes of a sample's reads, as the instrument would print them."""
    path = next((run_dir / CALLS).glob(f"{sample}_S*_R1_001.fastq.gz"))
    return gzip.decompress(path.read_bytes())[:size]


class Watch:
    """``sandbox watch`` with serial lines, as a subprocess."""

    def __init__(self, run_dir: Path, cache: Path, tmp: Path, *specs: str) -> None:
        self.db, self.report, self.rec = tmp / "store.sqlite", tmp / "live.json", tmp / "rec"
        self.run_dir, self.cache, self.tmp = run_dir, cache, tmp
        argv = ["watch", "--run", str(run_dir), "--db", str(self.db), "--report", str(self.report),
                "--record", str(self.rec), "--cache-dir", str(cache), "--quiet"]
        for spec in specs:
            argv += ["--serial", spec]
        self.proc = subprocess.Popen([sys.executable, "-m", "sandbox.cli", *argv], cwd=REPO, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for(lambda: self.proc.poll() is not None or rows(self.db, "SELECT value FROM session WHERE key = 'live'"),
                 "the session to start")
        assert self.proc.poll() is None, self.proc.communicate()

    def live_findings(self, sql: str = "severity_rank >= 3") -> list[tuple]:
        return rows(self.db, f"SELECT kind, destination, chain FROM findings WHERE {sql}")

    def end(self) -> dict:
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=WAIT_S)
        assert self.proc.returncode == 1, err
        return json.loads(self.report.read_text())

    def replay(self) -> dict:
        out = self.tmp / "replay.json"
        result = subprocess.run([sys.executable, "-m", "sandbox.cli", "replay", str(self.rec / "serial.pcapng"),
                                 "--run", str(self.run_dir), "--report", str(out), "--cache-dir", str(self.cache),
                                 "--quiet"], cwd=REPO, capture_output=True, text=True, timeout=WAIT_S)
        assert result.returncode == 1, result.stderr
        return json.loads(out.read_text())

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def print_through(line: BenchLine, data: bytes) -> None:
    """The instrument prints ``data``; the host must read exactly that."""
    inst, host = open_end(line.instrument_end), open_end(line.host_end)
    try:
        got: list[bytes] = []
        reader = threading.Thread(target=lambda: got.append(read_exactly(host, len(data), WAIT_S)))
        reader.start()
        write_all(inst, data)
        reader.join()
        assert got[0] == data
    finally:
        os.close(inst)
        os.close(host)


def converse(line: BenchLine, chunks: list[tuple[str, bytes]]) -> None:
    """The instrument sends the "out" chunks and the host the "in" ones, in order; each end reads
    exactly what the other sent."""
    inst, host = open_end(line.instrument_end), open_end(line.host_end)
    want = {d: b"".join(data for dd, data in chunks if dd == d) for d in ("out", "in")}
    got: dict[str, bytes] = {}
    readers = [threading.Thread(target=lambda fd=fd, d=d: got.__setitem__(d, read_exactly(fd, len(want[d]), WAIT_S)))
               for fd, d in ((host, "out"), (inst, "in"))]
    try:
        for reader in readers:
            reader.start()
        for direction, data in chunks:
            write_all(inst if direction == "out" else host, data)
        for reader in readers:
            reader.join()
        assert got == want
    finally:
        os.close(inst)
        os.close(host)


def transfer(line: BenchLine, tmp: Path, sender: list[str], receiver: list[str], files: dict[str, bytes]) -> None:
    """lrzsz on both ends of the bench: the instrument sends ``files``, the host gets them whole."""
    send, recv = tmp / f"send-{sender[0]}", tmp / f"recv-{sender[0]}"
    send.mkdir()
    recv.mkdir()
    for name, data in files.items():
        (send / name).write_bytes(data)
    with open(line.instrument_end, "r+b", buffering=0) as inst, open(line.host_end, "r+b", buffering=0) as host:
        for end in (inst, host):          # what an earlier session left unread ("OO" after ZFIN...)
            while read_exactly(end.fileno(), 4096, 0.3):
                pass
        snd = subprocess.Popen(sender + list(files), cwd=send, stdin=inst, stdout=inst, stderr=subprocess.DEVNULL)
        # the sender first: an XMODEM receiver repeats its "C" while it waits, and a sender that
        # starts late reads the queued ones as NAKs (rx/sx then give up)
        time.sleep(0.5)
        rcv = subprocess.Popen(receiver, cwd=recv, stdin=host, stdout=host, stderr=subprocess.DEVNULL)
        try:
            assert rcv.wait(WAIT_S) == 0
            try:
                snd.wait(SENDER_GRACE_S)
            except subprocess.TimeoutExpired:   # lrzsz's sx/sb on a PTY often miss the receiver's last
                assert sender[0] in ("sx", "sb")  # ACK (without the rig too): the host has the files
        finally:
            snd.kill()
            rcv.kill()
            snd.wait()
            rcv.wait()
    for name, data in files.items():
        assert (recv / name).read_bytes()[:len(data)] == data     # XMODEM pads the last block


def test_reads_and_files_sent_with_zmodem_xmodem_ymodem_are_found_live_and_on_replay(demo, cache, tmp_path):
    calls = demo / CALLS
    with serial_bench() as bench:
        line = bench.lines[0]
        watch = Watch(demo, cache, tmp_path, line.spec("115200,8N1"))
        try:
            print_through(line, b"run 0042 done\r\n" + fastq(demo, "PT5698-N1", 8000))
            transfer(line, tmp_path, ["sz", "-q"], ["rz", "-q", "-y"],
                     {"reads.fastq.gz": (calls / "PT9936-T1_S1_L001_R1_001.fastq.gz").read_bytes()})
            transfer(line, tmp_path, ["sx", "-q", "-k"], ["rx", "-q", "-c", "dump.fastq"],
                     {"dump.fastq": fastq(demo, "PT9006-B1", 12000)})
            transfer(line, tmp_path, ["sb", "-q"], ["rb", "-q", "-y"],
                     {"SampleSheet.csv": (demo / "SampleSheet.csv").read_bytes(),
                      "undetermined.fastq.gz": (calls / "Undetermined_S0_L001_R1_001.fastq.gz").read_bytes()})
            wait_for(lambda: all(c in str(rows(watch.db, "SELECT evidence FROM findings")) for c in (
                '["serial"]', '["serial", "zmodem:reads.fastq.gz"]', '["serial", "xmodem"]')), "live findings")
            live = watch.end()
        finally:
            watch.kill()
    host = f"serial {line.rig_host}"
    assert {f["destination"] for f in live["findings"]} == {host}
    assert {f["channel"] for f in live["findings"]} == {"serial"}
    # one leak per line (flow), destination and run: every transfer's evidence is in it, by chain
    [leak] = [f for f in live["findings"] if f["kind"] == "run-bytes"]
    assert leak["severity"] == "critical" and set(leak["evidence_kinds"]) >= {"run-bytes", "sequence", "identifier"}
    assert set(leak["samples"]) >= {"PT9936-T1", "PT5698-N1", "PT9006-B1"}
    by_chain: dict[tuple, set] = {}
    for ev in leak["evidence"]:
        by_chain.setdefault(tuple(ev["chain"]), set()).add(ev.get("file"))
    assert {("serial",), ("serial", "zmodem:reads.fastq.gz"), ("serial", "xmodem")} <= set(by_chain)
    assert {m["path"] for m in leak["files"]} >= {f"{CALLS}/PT9936-T1_S1_L001_R1_001.fastq.gz",
                                                   f"{CALLS}/PT5698-N1_S2_L001_R1_001.fastq.gz",
                                                   f"{CALLS}/PT9006-B1_S3_L001_R1_001.fastq.gz",
                                                   f"{CALLS}/Undetermined_S0_L001_R1_001.fastq.gz", "SampleSheet.csv"}
    assert essence(live) == essence(watch.replay())
    flows = Reader(str(watch.db)).devices("serial")
    assert [r["destination"] for r in flows] == [host]
    assert {f["name"] for f in flows[0]["meta"]["files"]} == {"reads.fastq.gz", "", "SampleSheet.csv",
                                                                "undetermined.fastq.gz"}


@pytest.mark.parametrize("baud", [9600, 921600])
def test_other_baud_settings(demo, cache, tmp_path, baud):
    with serial_bench() as bench:
        line = bench.lines[0]
        watch = Watch(demo, cache, tmp_path, line.spec(f"{baud},8N1"))
        try:
            print_through(line, fastq(demo, "PT5698-N1", 4000))
            transfer(line, tmp_path, ["sz", "-q"], ["rz", "-q", "-y"], {"r.fastq": fastq(demo, "PT9936-T1", 20000)})
            wait_for(lambda: "PT9936-T1" in str(watch.live_findings("severity_rank >= 3 AND samples LIKE '%PT5698-N1%'")
                                                + rows(watch.db, "SELECT samples FROM findings")), "live findings")
            live = watch.end()
        finally:
            watch.kill()
    # one leak per line, destination and run: the printed reads and the ZMODEM file are one finding
    assert [f["samples"] for f in live["findings"] if f["kind"] == "run-bytes"] == [["PT5698-N1", "PT9936-T1"]]
    assert essence(live) == essence(watch.replay())
    assert Reader(str(watch.db)).devices("serial")[0]["meta"]["baud"] == baud


def test_two_lines_an_unplugged_cable_and_garbage_in_one_session(demo, cache, tmp_path):
    rng = random.Random(7)
    garbage = bytes(rng.randrange(256) for _ in range(50_000)) + b"\xff\x00\x00**\x18B0100\x01\x01\xfe" * 50
    with serial_bench(lines=2) as bench:
        first, second = bench.lines
        watch = Watch(demo, cache, tmp_path, first.spec("115200"), second.spec("57600,7E1"))
        try:
            print_through(first, garbage)
            print_through(first, fastq(demo, "PT5698-N1", 3000))
            first.instrument_cable.replug()            # the instrument's adapter pulled and put back
            wait_for(lambda: "gap_count" in str(rows(watch.db, "SELECT meta FROM flows WHERE channel = 'serial'")),
                     "the gap in the store")
            print_through(first, fastq(demo, "PT9936-T1", 3000))
            print_through(second, b"\x00\xff" * 100 + fastq(demo, "PT9006-B1", 3000))
            wait_for(lambda: len(rows(watch.db, "SELECT 1 FROM findings WHERE severity_rank >= 3 AND ("
                                      "samples LIKE '%PT9936-T1%' OR samples LIKE '%PT9006-B1%')")) >= 2,
                     "live findings on both lines")
            live = watch.end()
        finally:
            watch.kill()
    found = {(f["destination"], tuple(f["samples"])) for f in live["findings"] if f["kind"] == "run-bytes"}
    assert found == {(f"serial {first.rig_host}", ("PT5698-N1", "PT9936-T1")),
                     (f"serial {second.rig_host}", ("PT9006-B1",))}
    assert not live["errors"] and live["verdict"] == "leak"
    assert essence(live) == essence(watch.replay())
    devices = {r["destination"]: r for r in Reader(str(watch.db)).devices("serial")}
    meta = devices[f"serial {first.rig_host}"]["meta"]
    assert meta["gap_count"] == 1 and meta["gaps"][0][0] == "instrument" and meta["gaps"][0][2] is not None
    assert devices[f"serial {second.rig_host}"]["meta"]["settings"] == "57600 7E1"
    panel = str(panels.serial_panel(list(devices.values())))
    assert str(first.rig_host) in panel and "1 gap" in panel


def test_a_port_that_is_missing_or_busy_is_one_line_and_exit_2(demo, cache, tmp_path):
    def watch(*specs: str) -> subprocess.CompletedProcess:
        argv = ["watch", "--run", str(demo), "--record", str(tmp_path / "rec"), "--cache-dir", str(cache), "--quiet"]
        for spec in specs:
            argv += ["--serial", spec]
        return subprocess.run([sys.executable, "-m", "sandbox.cli", *argv], cwd=REPO, capture_output=True,
                              text=True, timeout=WAIT_S)

    with serial_bench() as bench:
        line = bench.lines[0]
        for specs, why in (([f"{bench.folder}/gone:{line.rig_host}"], "gone does not exist"),
                           ([line.spec("fast")], "is not a number"),
                           ([line.spec(), f"{line.rig_host}:{bench.folder}/x"], "is named twice")):
            result = watch(*specs)
            assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
            assert why in result.stderr
        holder = serial.Serial(str(line.rig_instrument), exclusive=True)   # a terminal program has the port
        try:
            result = watch(line.spec())
        finally:
            holder.close()
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert f"{line.rig_instrument}: is busy" in result.stderr
        assert not (tmp_path / "rec" / "serial.pcapng").exists()


def test_text_dumps_on_a_line_are_found_as_on_the_network(demo, cache, tmp_path):
    """Reads printed line by line, a base64 block, an ``xxd -p`` hex dump, a service console's
    ``hexdump -C`` (CRLF lines): each leaks its sample."""
    import base64

    from sandbox.captures.serialwriter import SerialRecording

    console = subprocess.run(["hexdump", "-C"], input=fastq(demo, "PT9006-B1", 12000)[6000:], capture_output=True,
                             check=True).stdout.replace(b"\n", b"\r\n")
    dumps = [("PT5698-N1", fastq(demo, "PT5698-N1", 5000)),
             ("PT9006-B1", base64.encodebytes(fastq(demo, "PT9006-B1", 6000))),
             ("PT9936-T1", b"".join(fastq(demo, "PT9936-T1", 6000)[i:i + 30].hex().encode() + b"\n"
                                    for i in range(0, 6000, 30))),
             ("PT9006-B1", b"service> dump reads\r\n" + console + b"service> \r\n")]
    path = tmp_path / "serial.pcapng"
    with SerialRecording(path) as rec:
        lines = [rec.add_line(f"/dev/ttyUSB{i}", f"/dev/ttyS{i}", "115200 8N1", 115200) for i in range(len(dumps))]
        t = 100.0
        for line, (_, dump) in zip(lines, dumps, strict=True):
            for i in range(0, len(dump), 64):       # as a bridge reads them: a few dozen bytes at a time
                rec.data(line, "out", dump[i:i + 64], t)
                t += 0.005
    out = tmp_path / "report.json"
    result = subprocess.run([sys.executable, "-m", "sandbox.cli", "replay", str(path), "--run", str(demo),
                             "--report", str(out), "--cache-dir", str(cache), "--quiet"],
                            cwd=REPO, capture_output=True, text=True, timeout=WAIT_S)
    assert result.returncode == 1, result.stderr
    found = {(f["destination"], tuple(f["samples"]), tuple(f["chain"]))
             for f in json.loads(out.read_text())["findings"] if f["kind"] == "run-bytes"}
    assert found == {("serial /dev/ttyS0", ("PT5698-N1",), ("serial",)),
                     ("serial /dev/ttyS1", ("PT9006-B1",), ("serial", "base64")),
                     ("serial /dev/ttyS2", ("PT9936-T1",), ("serial", "hex")),
                     ("serial /dev/ttyS3", ("PT9006-B1",), ("serial", "hexdump@21"))}


def test_a_bridge_that_dies_mid_session_is_said_live_and_makes_the_verdict_inconclusive(demo, cache, tmp_path):
    """Killed from outside (OOM killer, a crash): the operator hears it at once, the dashboard turns
    inconclusive while the session runs, and the report never says clean."""
    with serial_bench() as bench:
        line = bench.lines[0]
        watch = Watch(demo, cache, tmp_path, line.spec())
        try:
            bridge = subprocess.run(["pgrep", "-f", f"hw.serial.bridge --record {watch.rec}"], capture_output=True,
                                    text=True).stdout.split()
            assert len(bridge) == 1
            os.kill(int(bridge[0]), signal.SIGKILL)
            wait_for(lambda: "serial bridge was killed" in str(rows(watch.db, "SELECT value FROM session WHERE "
                                                                          "key = 'not_examined'")),
                     "the dead bridge in the live store")
            assert Reader(str(watch.db)).summary()["verdict"] == "inconclusive"
            watch.proc.send_signal(signal.SIGTERM)
            _, err = watch.proc.communicate(timeout=WAIT_S)
        finally:
            watch.kill()
    assert watch.proc.returncode == 3, err
    assert "the serial bridge was killed by signal 9 while the session ran" in err
    report = json.loads(watch.report.read_text())
    assert report["verdict"] == "inconclusive"
    assert [n["where"] for n in report["not_examined"]] == [f"serial {line.spec()}"]


def test_a_dial_up_ppp_link_is_read_as_network_traffic_live_and_on_replay(demo, cache, tmp_path):
    """The instrument dials a vendor's service line and uploads gzip'd reads over PPP, with Van
    Jacobson header compression and CCP Deflate as pppd negotiates them by default: the upload is found
    while the session runs, by the name the request gave, and the replay of the recording agrees."""
    import gzip as gz

    body = gz.compress(fastq(demo, "PT9936-T1", 40000))
    packets = upload_packets("10.64.64.2", "198.51.100.7", body, b"POST /service/upload HTTP/1.1\r\n"
                             b"Host: service.vendor.example\r\nContent-Type: application/gzip\r\n")
    chunks = [("out", b"ATDT0800555123\r"), ("in", b"\r\nCONNECT 33600\r\n"),
              *ppp_session(packets, bytes([10, 64, 64, 2]), vj=True, deflate=True), ("in", b"\r\nNO CARRIER\r\n")]
    with serial_bench() as bench:
        line = bench.lines[0]
        watch = Watch(demo, cache, tmp_path, line.spec("115200,8N1"))
        try:
            converse(line, chunks)
            wait_for(lambda: watch.live_findings("severity_rank >= 3 AND chain LIKE '%ppp%'"), "the live finding")
            live = watch.end()
        finally:
            watch.kill()
    [leak] = [f for f in live["findings"] if f["severity"] in ("high", "critical")]
    assert leak["samples"] == ["PT9936-T1"] and leak["channel"] == "serial"
    assert leak["destination"] == "service.vendor.example"
    assert leak["chain"][:4] == ["serial", "ppp", "tcp", "http/1.1 POST /service/upload"]
    assert essence(live) == essence(watch.replay())
