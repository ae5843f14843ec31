"""A scenario played offline: its legs written as the recordings a rig would have made, plus its truth.

``sandbox simulate traffic --scenario FILE.toml`` writes, into one folder:

- ``net.pcapng``: the network legs on a bench LAN (the instrument 10.20.0.5, documentation addresses
  for the world), plaintext (HTTP/1.1, cleartext HTTP/2 for gRPC) so a replay needs no keys;
- ``serial.pcapng``: the serial legs on one bridged line (LINKTYPE_RTAC_SERIAL, as the serial tap
  records), XMODEM framed as lrzsz's ``sx`` sends it, a dial-up as pppd speaks PPP (``ppp.py``);
- ``usb.pcapng``: the USB legs as usbmon URBs (``sandbox.simulate.usblegs``);
- ``truth.json``: where each leg went and what a correct report says about it.

Nothing here opens a socket; the same bytes go out as the live instrument (``hw.demo``) sends.
"""

from __future__ import annotations

import binascii
import hashlib
import struct
from pathlib import Path

from sandbox.captures.serialwriter import SerialRecording
from sandbox.captures.writer import PcapngWriter

from . import wire
from .payload import RunData, dns_names, net_destination, payload, serial_destination, split, update_manifest
from .ppp import dial_up
from .scenario import Leg, Scenario
from .traffic import RESOLVER, T0, Bench
from .truth import TRUTH_FILE, LegTruth, write_truth
from .usblegs import LINKTYPE_USB_LINUX_MMAPPED, UsbSerial, UsbStick

NET_FILE, SERIAL_FILE, USB_FILE = "net.pcapng", "serial.pcapng", "usb.pcapng"
SERIAL_INSTRUMENT, SERIAL_HOST, SERIAL_SETTINGS, SERIAL_BAUD = "/dev/ttyUSB0", "/dev/ttyS0", "115200 8N1", 115200
SERIAL_CHUNK = 64          # bytes a bridge reads at a time from a busy line
S3_PARTS = 3
WS_MESSAGES = 4
XMODEM_BLOCK = 128
XMODEM_SOH, XMODEM_EOT, XMODEM_ACK, XMODEM_CRC, XMODEM_PAD = 0x01, 0x04, 0x06, ord("C"), 0x1A
# World addresses of the scenario's hosts, in order of first use: documentation ranges (RFC 5737).
WORLD = [f"203.0.113.{n}" for n in range(10, 250)] + [f"198.51.100.{n}" for n in range(10, 250)]


# Device numbers the host gives the scenario's USB devices, in the order of their legs (1-4 are the
# root hub and what a PC has built in).
USB_FIRST_DEVICE = 5


def usb_devices(scenario: Scenario) -> dict[str, int]:
    """Each USB leg's device number on bus 1: every USB leg plugs a device of its own."""
    legs = [leg for leg in scenario.legs if leg.channel == "usb"]
    return {leg.name: USB_FIRST_DEVICE + n for n, leg in enumerate(legs)}


def host_addresses(scenario: Scenario) -> dict[str, str]:
    return dict(zip(scenario.hosts, WORLD, strict=False))


def render(scenario: Scenario, run: RunData, out: Path) -> tuple[list[Path], list[LegTruth], list[str]]:
    """Write the scenario's recordings into ``out``; returns (recordings, truth, allow-list)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    addresses = host_addresses(scenario)
    truth: list[LegTruth] = []
    written: list[Path] = []
    net_legs = [leg for leg in scenario.legs if leg.channel == "net"]
    if net_legs:
        with PcapngWriter(out / NET_FILE) as w:
            bench = Bench(w)
            for leg in net_legs:
                _net_leg(bench, leg, run, addresses)
                truth.append(_truth(leg, run, net_destination(leg, addresses.get(leg.host))))
        written.append(out / NET_FILE)
    serial_legs = [leg for leg in scenario.legs if leg.channel == "serial"]
    if serial_legs:
        with SerialRecording(out / SERIAL_FILE) as rec:
            line = rec.add_line(SERIAL_INSTRUMENT, SERIAL_HOST, SERIAL_SETTINGS, SERIAL_BAUD)
            t = T0
            for leg in serial_legs:
                t = serial_leg(lambda d, data, at: rec.data(line, d, data, at), leg, run, t)
                truth.append(_truth(leg, run, serial_destination(leg, SERIAL_HOST)))
        written.append(out / SERIAL_FILE)
    usb_legs = [leg for leg in scenario.legs if leg.channel == "usb"]
    if usb_legs:
        with PcapngWriter(out / USB_FILE, linktype=LINKTYPE_USB_LINUX_MMAPPED) as w:
            t = T0
            devices = usb_devices(scenario)
            for leg in usb_legs:
                device, t = usb_leg(w.write, leg, run, t, device=devices[leg.name])
                truth.append(_truth(leg, run, device))
        written.append(out / USB_FILE)
    allow = [*scenario.allow, RESOLVER]    # the bench's own resolver is where lookups go
    write_truth(out / TRUTH_FILE, scenario.name, run.path, allow, truth)
    return written, truth, allow


def _truth(leg: Leg, run: RunData, destination: str) -> LegTruth:
    p = payload(leg, run)
    return LegTruth(leg.name, leg.channel, destination, leg.expect, leg.least, leg.worst, p.sample, p.file)


def _net_leg(bench: Bench, leg: Leg, run: RunData, addresses: dict[str, str]) -> None:
    if leg.via == "dns":
        sport = bench.port()     # one socket for the whole tunnel
        for n in range(leg.repeat):
            for name in dns_names(payload(leg, run, n).body, leg.host):
                bench.resolve(name, None, sport)
                bench.wait(0.2)
        return
    addr = addresses[leg.host]
    bench.resolve(leg.host, addr)
    port = leg.port or {"https": 80, "s3": 80, "websocket": 80, "grpc": 50051}.get(leg.via, leg.target_port)
    conv = bench.connect((addr, port))
    host = leg.host if port == 80 else f"{leg.host}:{port}"
    for n in range(leg.repeat):
        p = payload(leg, run, n)
        if leg.via in ("https", "http"):
            answer = update_manifest() if leg.content == "update-check" else b'{"ok":true}'
            bench.exchange(conv, wire.http_request(p.method, leg.path, host, p.body, content_type=p.content_type or None),
                           wire.http_response(answer))
        elif leg.via == "s3":
            _s3(bench, conv, leg, host, p.body)
        elif leg.via == "websocket":
            request, response = wire.websocket_upgrade(leg.path, host, hashlib.md5(leg.name.encode()).digest())
            bench.exchange(conv, request, response)
            text = p.content_type.startswith(("text/", "application/json"))
            for i, part in enumerate(split(p.body, WS_MESSAGES)):
                mask = struct.pack("!I", 0x5A17C0DE ^ i)
                bench.exchange(conv, wire.websocket_frame(part, text, mask), wire.websocket_frame(b"ok", True, None))
        elif leg.via == "grpc":
            client, server = wire.grpc_call(host, grpc_path(leg), p.body, stream=1)
            bench.exchange(conv, client, server)
        else:    # tcp: the bytes as they are, nothing back
            conv.send(p.body)
        bench.wait(1.0)
    bench.close(conv)


def grpc_path(leg: Leg) -> str:
    """The method a gRPC leg calls: its path when it names one (``/pkg.Service/Method``)."""
    return leg.path if leg.path.count("/") == 2 else "/sequencer.Upload/Put"


def s3_key(leg: Leg, name: str) -> tuple[str, str]:
    """(bucket, key) of an S3 leg: its path when it names both (``/bucket/key``)."""
    parts = leg.path.strip("/").split("/", 1)
    return (parts[0], parts[1]) if len(parts) == 2 else (parts[0] or "instrument-runs", name or leg.name)


def _s3(bench: Bench, conv, leg: Leg, host: str, body: bytes) -> None:
    """CreateMultipartUpload, UploadPart x N, CompleteMultipartUpload (unsigned, as on a bench store)."""
    bucket, key = s3_key(leg, leg.name)
    upload_id = hashlib.sha256(leg.name.encode()).hexdigest()[:32]
    bench.exchange(conv, wire.http_request("POST", f"/{bucket}/{key}?uploads", host),
                   wire.http_response(wire.s3_create_answer(bucket, key, upload_id), content_type="application/xml"))
    etags = []
    for n, part in enumerate(split(body, S3_PARTS), 1):
        etag = f'"{hashlib.md5(part).hexdigest()}"'
        etags.append(etag)
        bench.exchange(conv, wire.http_request("PUT", f"/{bucket}/{key}?partNumber={n}&uploadId={upload_id}", host, part,
                                               content_type="application/octet-stream"),
                       wire.http_response(b"", headers=[("ETag", etag)]))
    bench.exchange(conv, wire.http_request("POST", f"/{bucket}/{key}?uploadId={upload_id}", host,
                                           wire.s3_complete_body(etags), content_type="application/xml"),
                   wire.http_response(b"<CompleteMultipartUploadResult/>", content_type="application/xml"))


def serial_leg(emit, leg: Leg, run: RunData, t: float) -> float:
    """A serial leg on a bridged line: ``emit(direction, data, t)`` per chunk; returns the time after."""
    gap = SERIAL_CHUNK * 10 / SERIAL_BAUD
    for n in range(leg.repeat):
        body = payload(leg, run, n).body
        if leg.protocol == "xmodem":
            emit("in", bytes([XMODEM_CRC]), t)
            for number, off in enumerate(range(0, len(body), XMODEM_BLOCK), 1):
                block = body[off:off + XMODEM_BLOCK].ljust(XMODEM_BLOCK, bytes([XMODEM_PAD]))
                frame = bytes([XMODEM_SOH, number & 0xFF, 255 - (number & 0xFF)]) + block + crc16(block).to_bytes(2, "big")
                t += 0.002
                emit("out", frame, t)
                t += len(frame) * 10 / SERIAL_BAUD
                emit("in", bytes([XMODEM_ACK]), t)
            emit("out", bytes([XMODEM_EOT]), t + 0.002)
            t += 0.004
            emit("in", bytes([XMODEM_ACK]), t)
        elif leg.protocol == "ppp":
            for direction, chunk in dial_up_chunks(leg, run, n):
                emit(direction, chunk, t)
                t += len(chunk) * 10 / SERIAL_BAUD + 0.002
        else:
            for off in range(0, len(body), SERIAL_CHUNK):
                emit("out", body[off:off + SERIAL_CHUNK], t)
                t += gap
        t += 1.0
    return t


def dial_up_chunks(leg: Leg, run: RunData, n: int = 0) -> list[tuple[str, bytes]]:
    """A ``ppp`` leg's line: the modem dials, the leg's request goes over PPP to its host, hang-up."""
    p = payload(leg, run, n)
    request = wire.http_request(p.method, leg.path, leg.host, p.body, content_type=p.content_type)
    return dial_up(request, wire.http_response(b'{"received": true}'))


def crc16(data: bytes) -> int:
    """CRC-16/XMODEM (poly 0x1021, init 0), as XMODEM-CRC blocks carry it."""
    return binascii.crc_hqx(data, 0)


def usb_leg(sink, leg: Leg, run: RunData, t: float, device: int) -> tuple[str, float]:
    """A USB leg: a stick plugged in and a file copied to it, or an adapter plugged in and printed to;
    ``sink(urb, t)`` per URB.  Returns the device's name in findings and the time after."""
    if leg.via == "usb-storage":
        stick = UsbStick(sink, device=device)
        t = stick.plug(t)
        for n in range(leg.repeat):
            p = payload(leg, run, n)
            name = leg.filename or (Path(p.file).name if p.file else f"{leg.name}.txt")
            if leg.repeat > 1:
                name = f"{n}_{name}"
            t = stick.copy(t + 0.5, name, p.body)
        return stick.destination, t + 1.0
    adapter = UsbSerial(sink, device=device)
    t = adapter.plug(t)
    for n in range(leg.repeat):
        t = adapter.write(t + 0.1, payload(leg, run, n).body)
    return adapter.destination, t + 1.0
