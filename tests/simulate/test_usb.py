"""The USB bench: captures the project writes (usbmon 220 and 189, USBPcap 249) of a stick, a
USB-serial adapter, USB network adapters and a keyboard; each leak is found with its sample, device
and file name, the benign devices stay clean, and tshark dissects what we write as we do."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from sandbox.captures import open_capture
from sandbox.captures.usbwriter import INTERRUPT
from sandbox.protocols import Dissector
from sandbox.replay import replay
from sandbox.simulate import ensure_demo
from sandbox.simulate.exfatimage import ExfatImage
from sandbox.simulate.fatimage import FatVolume
from sandbox.simulate.runfolder import sample_fastqs
from sandbox.simulate.traffic import INSTRUMENT, Bench
from sandbox.simulate.usb import (
    NetworkLink,
    SerialHost,
    StickHost,
    UsbBench,
    keyboard,
    network_adapter,
    open_writer,
    serial_adapter,
    stick,
    write_image_capture,
    write_stick_capture,
)
from sandbox.simulate.wire import client_hello, http_request, http_response, server_hello, tls_record

REPO = Path(__file__).resolve().parents[2]
FORMATS = ("usbmon", "usbmon48", "usbpcap")
UPLOAD_HOST = ("203.0.113.50", 80)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, str, bytes, Path]:
    """The demo run, its first sample, that sample's FASTQ.gz, an index cache shared by the module."""
    run = ensure_demo(REPO / "captures" / "demo")[0]
    sample, fastq = next(iter(sample_fastqs(run).items()))
    return run, sample, fastq.read_bytes(), tmp_path_factory.mktemp("sbx-usb-cache")


def report_of(capture: Path, demo) -> dict:
    return replay([capture], [demo[0]], cache_dir=demo[3]).report


def on_device(report: dict, kind: str) -> list[dict]:
    return [f for f in report["findings"] if f["kind"] == kind and f["channel"] == "usb"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("bits", [16, 32])
def test_a_stick_given_a_fastq_gz_is_a_leak_naming_the_file_sample_and_device(fmt, bits, demo, tmp_path):
    capture = tmp_path / f"sbx-usb-stick-{fmt}-{bits}.pcapng"
    dev = write_stick_capture(capture, {"RUN/reads.fastq.gz": demo[2]}, fmt=fmt, fat_bits=bits)
    report = report_of(capture, demo)
    assert report["verdict"] == "leak"
    (hit,) = on_device(report, "run-bytes")
    assert hit["severity"] == "critical" and hit["samples"] == [demo[1]]
    assert hit["chain"] == [f"usb 1.{dev.address}", "msc", "scsi WRITE", "fat:/RUN/reads.fastq.gz"]
    assert hit["destination"] == f"usb 1.{dev.address} 0781:5583 Ultra Fit"
    assert hit["files"][0]["fraction"] > 0.99     # fingerprints, not a byte count
    (new,) = on_device(report, "usb-device")
    assert new["severity"] == "medium" and new["chain"] == [f"usb 1.{dev.address}", "new device"]


TOOL_PATH = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"


def _tool(*argv: str) -> None:
    """A file-system tool (dosfstools, mtools, exfatprogs: ``scripts/install-system-deps.sh``)."""
    found = shutil.which(argv[0], path=TOOL_PATH)
    if found is None:
        pytest.skip(f"{argv[0]} not installed (scripts/install-system-deps.sh)")
    subprocess.run([found, *argv[1:]], check=True, capture_output=True,
                   env={**os.environ, "MTOOLS_SKIP_CHECK": "1"})


def test_a_fat12_stick_made_by_mkfs_fat_and_written_by_mcopy(demo, tmp_path):
    image = tmp_path / "sbx-usb-fat12.img"
    _tool("mkfs.fat", "-F", "12", "-C", str(image), "4096")
    before = image.read_bytes()
    (tmp_path / "reads.fastq.gz").write_bytes(demo[2])
    _tool("mmd", "-i", str(image), "::RUN")
    _tool("mcopy", "-i", str(image), str(tmp_path / "reads.fastq.gz"), "::RUN/READS.FQ.GZ")
    capture = tmp_path / "sbx-usb-fat12.pcapng"
    dev = write_image_capture(capture, before, image.read_bytes())
    (hit,) = on_device(report_of(capture, demo), "run-bytes")
    assert hit["chain"] == [f"usb 1.{dev.address}", "msc", "scsi WRITE", "fat:/RUN/READS.FQ.GZ"]
    assert hit["samples"] == [demo[1]] and hit["severity"] == "critical"


@pytest.mark.parametrize("fmt", ["usbmon", "usbpcap"])
def test_an_exfat_stick_names_the_file(fmt, demo, tmp_path):
    image = tmp_path / "sbx-usb-exfat.img"
    with open(image, "wb") as f:
        f.truncate(64 << 20)
    _tool("mkfs.exfat", str(image))
    before = image.read_bytes()
    volume = ExfatImage(before)
    volume.add("/Sequencing Runs/run 42/reads of sample one.fastq.gz", demo[2])
    image.write_bytes(volume.bytes())
    _tool("fsck.exfat", "-n", str(image))         # the image is one Linux would mount
    capture = tmp_path / f"sbx-usb-exfat-{fmt}.pcapng"
    dev = write_image_capture(capture, before, volume.bytes(), fmt=fmt)
    report = report_of(capture, demo)
    (hit,) = on_device(report, "run-bytes")
    assert hit["chain"] == [f"usb 1.{dev.address}", "msc", "scsi WRITE",
                            "exfat:/Sequencing Runs/run 42/reads of sample one.fastq.gz"]
    assert hit["samples"] == [demo[1]] and hit["files"][0]["fraction"] > 0.99


def test_tshark_reads_the_scsi_writes_we_write_at_the_lbas_we_assemble(demo, tmp_path):
    capture = tmp_path / "sbx-usb-stick.pcapng"
    write_stick_capture(capture, {"RUN/reads.fastq.gz": demo[2]}, fat_bits=16)
    out = subprocess.run(["tshark", "-r", str(capture), "-Y", "scsi_sbc.opcode == 0x2a && scsi_sbc.rdwr10.xferlen", "-T", "fields",
                          "-e", "scsi_sbc.rdwr10.lba", "-e", "scsi_sbc.rdwr10.xferlen"],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    extents = sorted((int(lba), int(n)) for lba, n in (line.split("\t") for line in out.splitlines()))
    volume = FatVolume(bits=16, sectors=1 << 17, cluster_sectors=4)
    writes = volume.mkdir("/RUN") + volume.add_file("/RUN/reads.fastq.gz", demo[2])
    ours = sorted((w.lba + off // 512, len(w.data[off:off + 240 * 512]) // 512)
                  for w in writes for off in range(0, len(w.data), 240 * 512))
    assert extents == ours
    usb = subprocess.run(["tshark", "-r", str(capture), "-Y", "usb.idVendor", "-T", "fields", "-e", "usb.idVendor",
                          "-e", "usb.idProduct"], capture_output=True, text=True, check=True).stdout.split()
    assert usb[:2] == ["0x0781", "0x5583"]


def test_a_stick_that_is_only_read_stays_clean(demo, tmp_path):
    capture = tmp_path / "sbx-usb-stick-read.pcapng"
    volume = FatVolume(bits=32, sectors=1 << 20, cluster_sectors=8)
    writes = volume.mkdir("/DOCS") + volume.add_file("/DOCS/manual.txt", b"instrument manual\n" * 400)
    for w in writes:
        for i in range(0, len(w.data), 512):
            volume.sectors[w.lba + i // 512] = w.data[i:i + 512]
    with open_writer(capture) as w:
        bench = UsbBench(w)
        host = StickHost(bench, bench.plug(stick()), volume)
        host.attach()
        host.read(volume.cluster_lba(3), 8)
    report = report_of(capture, demo)
    assert report["verdict"] == "clean", report["findings"]
    # a stick that only came and was read is still a new storage device on the instrument
    assert [f["kind"] for f in report["findings"]] == ["usb-device"]


@pytest.mark.parametrize("fmt", ["usbmon", "usbpcap"])
def test_a_usb_serial_adapter_carrying_reads_by_xmodem_is_a_leak(fmt, demo, tmp_path):
    reads = gzip.decompress(demo[2])[:20_000]
    capture = tmp_path / f"sbx-usb-serial-{fmt}.pcapng"
    with open_writer(capture, fmt) as w:
        bench = UsbBench(w)
        dev = bench.plug(serial_adapter())
        host = SerialHost(bench, dev)
        host.send(b"AT\r\n")
        host.xmodem(reads)
    report = report_of(capture, demo)
    assert report["verdict"] == "leak"
    hits = [f for f in report["findings"] if f["kind"] in ("run-bytes", "sequence")]
    assert hits and all(f["samples"] == [demo[1]] for f in hits)
    assert {tuple(f["chain"][:3]) for f in hits} == {(f"usb 1.{dev.address}", "cdc-acm", "xmodem")}
    assert all(f["destination"].startswith(f"usb 1.{dev.address} 2341:0043 USB Serial") for f in hits)


def test_tshark_sees_our_cdc_acm_requests_and_descriptors(tmp_path):
    capture = tmp_path / "sbx-usb-serial.pcapng"
    with open_writer(capture) as w:
        bench = UsbBench(w)
        SerialHost(bench, bench.plug(serial_adapter()), baud=57600)

    def fields(display: str, field: str) -> list[str]:
        return subprocess.run(["tshark", "-r", str(capture), "-Y", display, "-T", "fields", "-e", field],
                              capture_output=True, text=True, check=True).stdout.split()

    assert fields("usbcom.control.request_code", "usbcom.control.request_code") == ["0x20", "0x22"]
    assert set(",".join(fields("usbcom.descriptor.subtype", "usbcom.descriptor.subtype")).split(",")) >= {
        "0x00", "0x02", "0x06"}       # header, ACM, union


def _network_capture(path: Path, kind: str, body: bytes, fmt: str = "usbmon") -> int:
    with open_writer(path, fmt) as w:
        usb = UsbBench(w)
        dev = usb.plug(network_adapter(kind))
        net = Bench(NetworkLink(usb, dev, INSTRUMENT), t0=usb.t)
        net.resolve("upload.example.net", UPLOAD_HOST[0])
        conv = net.connect(UPLOAD_HOST)
        net.exchange(conv, http_request("POST", "/v1/runs", "upload.example.net", body,
                                        [("Content-Type", "application/gzip")]), http_response(b"{}"))
        net.close(conv)
    return dev.address


@pytest.mark.parametrize("kind", ["ecm", "ncm", "rndis"])
def test_a_usb_network_adapter_carrying_an_http_upload_and_dns_is_a_leak(kind, demo, tmp_path):
    capture = tmp_path / f"sbx-usb-net-{kind}.pcapng"
    address = _network_capture(capture, kind, demo[2])
    report = report_of(capture, demo)
    assert report["verdict"] == "leak"
    (hit,) = [f for f in report["findings"] if f["kind"] == "run-bytes"]
    label = f"usb 1.{address}"
    assert hit["channel"] == "usb" and hit["samples"] == [demo[1]]
    assert hit["chain"][:3] == [label, kind if kind != "ecm" else "cdc-ecm", "tcp"] or \
        hit["chain"][:3] == [label, f"cdc-{kind}", "tcp"]
    assert "http/1.1 POST /v1/runs" in hit["chain"]
    assert hit["destination"].startswith("203.0.113.50") or "upload.example.net" in hit["destination"]
    flows = {f["flow"] for f in report["findings"]}
    assert any(flow.startswith("tcp ") for flow in flows)
    (new,) = on_device(report, "usb-device")
    assert new["chain"] == [label, "new device"]


def test_tls_through_a_usb_modem_is_judged_by_its_name_like_any_tls(demo, tmp_path):
    capture = tmp_path / "sbx-usb-net-tls.pcapng"
    with open_writer(capture) as w:
        usb = UsbBench(w)
        net = Bench(NetworkLink(usb, usb.plug(network_adapter("ecm")), INSTRUMENT), t0=usb.t)
        conv = net.connect(("203.0.113.50", 443))
        net.exchange(conv, client_hello("telemetry.vendor.example", bytes(32), bytes(32)),
                     server_hello(bytes(32), bytes(32), bytes(32)))
        conv.send(tls_record(23, bytes(range(256)) * 64))
        net.close(conv)
    dissector = Dissector()
    for seg in open_capture(capture):
        dissector.feed(seg)
    dissector.close()
    (tls,) = [f for f in dissector.flows.values() if f.transport == "tcp"]
    assert (tls.channel, tls.app, tls.meta["sni"], tls.meta["via"]) == ("usb", "tls", "telemetry.vendor.example",
                                                                       "usb 1.2 > cdc-ecm")
    report = report_of(capture, demo)
    assert {f["destination"] for f in report["findings"] if f["kind"] != "usb-device"} <= {
        "telemetry.vendor.example"}


def test_tshark_dissects_the_frames_inside_our_ecm_capture(demo, tmp_path):
    capture = tmp_path / "sbx-usb-net-ecm.pcapng"
    _network_capture(capture, "ecm", b"hello", fmt="usbmon")
    out = subprocess.run(["tshark", "-r", str(capture), "-d", "usb.product==0x12d114dc,cdc_ecm", "-Y",
                          "dns.qry.name || http.request.method", "-T", "fields", "-e", "dns.qry.name",
                          "-e", "http.request.method"], capture_output=True, text=True, check=False).stdout
    if "upload.example.net" not in out:         # tshark picks the ECM dissector from the descriptors
        out = subprocess.run(["tshark", "-r", str(capture), "-Y", "dns.qry.name || http.request.method", "-T",
                              "fields", "-e", "dns.qry.name", "-e", "http.request.method"],
                             capture_output=True, text=True, check=True).stdout
    assert "upload.example.net" in out and "POST" in out


def test_a_keyboard_is_benign_and_context_only(demo, tmp_path):
    capture = tmp_path / "sbx-usb-hid.pcapng"
    with open_writer(capture) as w:
        bench = UsbBench(w)
        dev = bench.plug(keyboard())
        for key in b"\x04\x05\x06" * 50:       # reports IN: what a typist sends the instrument
            w.bulk(bench.bus, dev.address, 0x81, bytes([0, 0, key, 0, 0, 0, 0, 0]), bench._tick(0.01),
                   transfer=INTERRUPT)
    report = report_of(capture, demo)
    assert report["verdict"] == "clean" and report["findings"] == []


@pytest.mark.parametrize("fmt", ["usbmon", "usbpcap"])
def test_a_usb_capture_beside_a_network_capture(fmt, demo, tmp_path):
    """A USB capture mixed with a network capture: both read, each leak on its own channel."""
    usb_capture = tmp_path / f"sbx-usb-bus-{fmt}.pcapng"
    write_stick_capture(usb_capture, {"RUN/reads.fastq.gz": demo[2]}, fmt=fmt)
    net_capture = ensure_demo(REPO / "captures" / "demo")[1]
    report = replay([usb_capture, net_capture], [demo[0]], cache_dir=demo[3]).report
    channels = {f["channel"] for f in report["findings"] if f["severity"] in ("high", "critical")}
    assert channels == {"usb", "net"}
    assert len(report["captures"]) == 2


def test_tshark_reads_every_format_we_write(tmp_path):
    if shutil.which("tshark") is None:
        pytest.skip("tshark not installed")
    for fmt, encap in (("usbmon", "USB packets with Linux header and padding"),
                       ("usbmon48", "USB packets with Linux header"), ("usbpcap", "USB packets with USBPcap header")):
        capture = tmp_path / f"sbx-usb-{fmt}.pcapng"
        write_stick_capture(capture, {"A.TXT": b"x" * 5000}, fmt=fmt, fat_bits=16)
        info = subprocess.run(["capinfos", "-E", str(capture)], capture_output=True, text=True, check=True).stdout
        assert encap in info
        errors = subprocess.run(["tshark", "-r", str(capture), "-Y", "_ws.malformed || _ws.expert.severity >= error"],
                                capture_output=True, text=True, check=True).stdout
        assert errors == ""


def test_a_capture_that_cut_transfers_is_inconclusive_never_clean(demo, tmp_path):
    from sandbox.captures.usbwriter import UsbmonWriter

    capture = tmp_path / "sbx-usb-cut.pcapng"
    with UsbmonWriter(capture, capture_limit=4096) as w:
        bench = UsbBench(w)
        dev = bench.plug(stick())
        bench.bulk(dev, dev.out_ep, b"\x00" * 9000)        # a vendor write nobody can look into whole
    report = report_of(capture, demo)
    assert report["verdict"] == "inconclusive"
    (row,) = report["not_examined"]
    assert (row["where"], row["bytes"]) == (str(capture), 9000 - 4096) and "cut by the capture" in row["what"]
