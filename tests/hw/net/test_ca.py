"""The rig's CA: made once, key private, reused, and what mitmproxy loads."""

from __future__ import annotations

import os
import stat

from cryptography import x509

from hw.net.ca import ensure_ca, install_help


def test_made_on_first_use_then_reused_with_a_private_key(tmp_path):
    ca, made = ensure_ca(tmp_path / "ca")
    assert made
    assert stat.S_IMODE(os.stat(ca.key_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(ca.folder).st_mode) == 0o700
    cert = x509.load_pem_x509_certificate(ca.cert_file.read_bytes())
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    before = ca.key_file.read_bytes()
    os.chmod(ca.key_file, 0o644)
    again, made = ensure_ca(tmp_path / "ca")
    assert not made and again.key_file.read_bytes() == before
    assert stat.S_IMODE(os.stat(ca.key_file).st_mode) == 0o600     # loosened permissions are put back
    assert b"PRIVATE KEY" in before and b"CERTIFICATE" in before  # mitmproxy's mitmproxy-ca.pem layout


def test_install_help_covers_windows_and_linux(tmp_path):
    ca, _ = ensure_ca(tmp_path / "ca")
    text = install_help(ca)
    assert "certutil -addstore" in text and "update-ca-certificates" in text and str(ca.cer_file) in text
