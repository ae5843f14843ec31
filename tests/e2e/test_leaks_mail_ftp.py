"""Mail with a FASTQ attachment (smtplib -> aiosmtpd) and FTP STOR, passive and active (pyftpdlib)."""

from __future__ import annotations

import ftplib
import io
import smtplib
from email.message import EmailMessage

import pytest

from .conftest import assert_leak

pytestmark = pytest.mark.e2e


def test_smtp_mail_with_fastq_attachment(recorder, smtp_server, sim_run, replay):
    sample = sim_run.sample_ids[0]
    msg = EmailMessage()
    msg["From"], msg["To"] = "miseq-m07011@lab.example", "field-service@vendor.example"
    msg["Subject"] = "Run QC examples"
    msg.set_content("Attached: example reads for the QC ticket.")
    msg.add_attachment(sim_run.fastq_text(sample, 300), maintype="application", subtype="octet-stream",
                       filename="qc_examples.fastq")
    with recorder() as rec, smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as smtp:
        smtp.send_message(msg)
    assert b"Content-Transfer-Encoding: base64" in smtp_server.received[0]
    result = replay(rec.path, sim_run.path)
    hits = assert_leak(result, sim_run, sample)
    assert any(any("base64" in step for step in f["chain"]) for f in hits)


@pytest.mark.parametrize("passive", [True, False], ids=["passive", "active"])
def test_ftp_stor_of_a_fastq_gz(recorder, ftp_server, sim_run, replay, passive):
    sample = sim_run.sample_ids[1 if passive else 2]
    path = sim_run.fastqs[sample]
    with recorder() as rec, ftplib.FTP() as ftp:
        ftp.connect(ftp_server.host, ftp_server.port, timeout=10)
        ftp.login("instrument", "service")
        ftp.set_pasv(passive)
        ftp.storbinary(f"STOR {path.name}", io.BytesIO(path.read_bytes()))
    assert (ftp_server.received[0] / path.name).read_bytes() == path.read_bytes()
    result = replay(rec.path, sim_run.path)
    hits = assert_leak(result, sim_run, sample, file=path, min_fraction=0.9)
    # the data connection is tied to its control connection: the chain says the file went by FTP
    assert any(step.startswith("ftp") for f in hits for step in f["chain"]), [f["chain"] for f in hits]
