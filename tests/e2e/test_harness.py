"""The harness itself: each server answers a real client, and dumpcap records the exchange."""

from __future__ import annotations

import ftplib
import io
import smtplib
import subprocess
from email.message import EmailMessage

import pytest
import requests

from .conftest import HOST

pytestmark = pytest.mark.e2e


def frames(path, *decode_as: str) -> list[str]:
    """One line per frame (source, destination, protocol), read by tshark (``-d`` rules for odd ports)."""
    argv = ["tshark", "-r", str(path), "-T", "fields", "-e", "ip.src", "-e", "ip.dst", "-e", "_ws.col.Protocol"]
    for rule in decode_as:
        argv += ["-d", rule]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60)
    return out.stdout.splitlines()


def test_recorder_captures_http_and_only_our_host(recorder, http_server):
    with requests.Session() as s, recorder() as rec:
        s.trust_env = False
        r = s.post(f"{http_server.url}/upload", data=b"x" * 5000)
    assert r.json() == {"ok": True, "bytes": 5000}
    assert http_server.received[0][3] == b"x" * 5000
    rows = frames(rec.path)
    assert len(rows) >= 6  # handshake, request segments, response, teardown
    assert all(HOST in row for row in rows)
    assert rec.proc.returncode == 0


def test_recorder_stops_quickly_and_leaves_a_readable_file(recorder):
    with recorder() as rec:
        pass
    assert rec.proc.returncode == 0
    assert frames(rec.path) == []


def test_smtp_and_ftp_servers(recorder, smtp_server, ftp_server):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "miseq@lab.example", "support@vendor.example", "logs"
    msg.set_content("run finished")
    with recorder() as rec:
        with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as smtp:
            smtp.send_message(msg)
        with ftplib.FTP() as ftp:
            ftp.connect(ftp_server.host, ftp_server.port, timeout=5)
            ftp.login("instrument", "service")
            ftp.storbinary("STOR a.bin", io.BytesIO(b"a" * 3000))
            ftp.set_pasv(False)
            ftp.storbinary("STOR b.bin", io.BytesIO(b"b" * 3000))
    assert b"run finished" in smtp_server.received[0]
    home = ftp_server.received[0]
    assert (home / "a.bin").read_bytes() == b"a" * 3000 and (home / "b.bin").read_bytes() == b"b" * 3000
    rules = (f"tcp.port=={smtp_server.port},smtp", f"tcp.port=={ftp_server.port},ftp")
    protocols = {row.split("\t")[2] for row in frames(rec.path, *rules)}
    assert {"SMTP", "FTP", "FTP-DATA"} <= protocols


def test_websocket_dns_and_s3_servers(recorder, ws_server, dns_server, s3_server):
    import boto3
    import dns.message
    import dns.query
    from websockets.sync.client import connect

    with recorder() as rec:
        with connect(f"ws://{ws_server.host}:{ws_server.port}/stream") as ws:
            ws.send('{"hello": 1}')
            assert ws.recv(timeout=5) == '{"ack": 1}'
        answer = dns.query.udp(dns.message.make_query("lims.bench.test", "A"), dns_server.host,
                               port=dns_server.port, timeout=5)
        assert answer.answer[0][0].address == HOST
        s3 = boto3.client("s3", endpoint_url=f"http://{s3_server.host}:{s3_server.port}", region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        s3.create_bucket(Bucket="vendor-diag")
        s3.put_object(Bucket="vendor-diag", Key="k", Body=b"hello")
        assert s3.get_object(Bucket="vendor-diag", Key="k")["Body"].read() == b"hello"
    rules = (f"tcp.port=={ws_server.port},http", f"udp.port=={dns_server.port},dns",
             f"tcp.port=={s3_server.port},http")
    protocols = {row.split("\t")[2] for row in frames(rec.path, *rules)}
    assert {"WebSocket", "DNS", "HTTP"} <= protocols
