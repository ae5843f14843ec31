"""boto3 put_object to a real S3 server (moto), plain and over TLS where the body goes aws-chunked."""

from __future__ import annotations

import subprocess

import pytest

from .conftest import assert_leak

pytestmark = pytest.mark.e2e


def _client(url: str, verify: str | bool = True):
    import boto3

    return boto3.client("s3", endpoint_url=url, region_name="us-east-1", verify=verify,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def test_put_object_of_a_fastq_gz(recorder, s3_server, sim_run, replay):
    sample = sim_run.sample_ids[2]
    path = sim_run.fastqs[sample]
    s3 = _client(f"http://{s3_server.host}:{s3_server.port}")
    with recorder() as rec:
        s3.create_bucket(Bucket="vendor-diagnostics")
        s3.put_object(Bucket="vendor-diagnostics", Key=f"uploads/{path.name}", Body=path.read_bytes())
    assert s3.get_object(Bucket="vendor-diagnostics", Key=f"uploads/{path.name}")["Body"].read() == path.read_bytes()
    assert b"x-amz-checksum-crc32" in rec.path.read_bytes()  # default checksums, in a header over HTTP
    result = replay(rec.path, sim_run.path)
    assert_leak(result, sim_run, sample, file=path, min_fraction=0.9)


def test_put_object_over_tls_is_aws_chunked_and_decrypted(recorder, s3_tls_server, tls_cert, sim_run, replay,
                                                          tmp_path, monkeypatch):
    sample = sim_run.sample_ids[0]
    path = sim_run.fastqs[sample]
    keylog = tmp_path / "keys.log"
    monkeypatch.setenv("SSLKEYLOGFILE", str(keylog))  # botocore's TLS context logs its secrets here
    s3 = _client(f"https://{s3_tls_server.host}:{s3_tls_server.port}", verify=str(tls_cert[0]))
    with recorder() as rec:
        s3.create_bucket(Bucket="vendor-diagnostics")
        with open(path, "rb") as fh:  # a file object: streamed with a trailing CRC (aws-chunked)
            s3.put_object(Bucket="vendor-diagnostics", Key=f"tls/{path.name}", Body=fh)
    assert s3.get_object(Bucket="vendor-diagnostics", Key=f"tls/{path.name}")["Body"].read() == path.read_bytes()
    assert keylog.read_text().count("CLIENT_TRAFFIC_SECRET_0") >= 1
    seen = subprocess.run(["tshark", "-r", str(rec.path), "-o", f"tls.keylog_file:{keylog}", "-Y",
                           'http.content_encoding == "aws-chunked"'], capture_output=True, text=True, timeout=60)
    assert seen.stdout.strip(), "premise: botocore sent the body aws-chunked"
    result = replay(rec.path, sim_run.path, "--tls-keylog", str(keylog))
    hits = assert_leak(result, sim_run, sample, file=path, min_fraction=0.9)
    assert any("tls" in f["chain"] for f in hits), [f["chain"] for f in hits]
