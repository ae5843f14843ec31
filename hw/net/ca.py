"""The rig's certificate authority: made on first use, its key private, mitmproxy's file layout.

The instrument PC trusts this CA so mitmproxy can read what it sends over TLS.  The files are the
ones mitmproxy reads from its confdir (``mitmproxy-ca.pem``: key and certificate, 0600;
``mitmproxy-ca-cert.pem`` / ``.cer``: the certificate to install), so mitmdump uses ours as is.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

CA_NAME = "Instrument traffic sandbox rig CA"
CA_YEARS = 10        # a bench rig's CA outlives firmware cycles; revoke by deleting the folder
KEY_BITS = 2048      # what mitmproxy makes; every TLS stack an instrument PC runs accepts it


@dataclass(frozen=True)
class CA:
    folder: Path

    @property
    def key_file(self) -> Path:
        """Private key and certificate (what mitmproxy signs with): 0600."""
        return self.folder / "mitmproxy-ca.pem"

    @property
    def cert_file(self) -> Path:
        """The certificate alone, PEM: what the instrument PC installs."""
        return self.folder / "mitmproxy-ca-cert.pem"

    @property
    def cer_file(self) -> Path:
        """The same certificate named for Windows' certificate import wizard."""
        return self.folder / "mitmproxy-ca-cert.cer"


def default_folder() -> Path:
    """``$SANDBOX_CA_DIR``, else ``$XDG_CONFIG_HOME/instrument-sandbox/ca`` (``~/.config/...``)."""
    if os.environ.get("SANDBOX_CA_DIR"):
        return Path(os.environ["SANDBOX_CA_DIR"])
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "instrument-sandbox" / "ca"


def ensure_ca(folder: Path | None = None) -> tuple[CA, bool]:
    """The CA in ``folder`` (default ``default_folder()``), made when missing; (ca, made_now).

    Raises ``OSError`` when the folder cannot be made or read."""
    ca = CA(Path(folder) if folder is not None else default_folder())
    ca.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if ca.key_file.exists():
        os.chmod(ca.key_file, 0o600)      # someone loosened it: the key signs for any site
        return ca, False
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "instrument traffic sandbox")])
    now = datetime.datetime.now(datetime.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=2))
            .not_valid_after(now + datetime.timedelta(days=365 * CA_YEARS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    tmp = ca.key_file.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem + cert_pem)
    os.replace(tmp, ca.key_file)
    for public in (ca.cert_file, ca.cer_file):
        public.write_bytes(cert_pem)
        os.chmod(public, 0o644)
    return ca, True


def install_help(ca: CA) -> str:
    """How to make an instrument PC trust the rig's CA (Windows and Linux)."""
    return f"""\
Install the rig's CA certificate on the instrument PC so the rig can read what it sends over TLS.
Copy {ca.cer_file} (Windows) or {ca.cert_file} (Linux) to the instrument PC, then:

Windows (as Administrator; the vendor software uses the machine store):
  certutil -addstore -f Root mitmproxy-ca-cert.cer
  (or: double-click the .cer > Install Certificate > Local Machine > "Trusted Root Certification Authorities")
  Java-based software keeps its own store:
  keytool -importcert -cacerts -alias instrument-sandbox -file mitmproxy-ca-cert.cer
  Remove after the bench test: certutil -delstore Root "{CA_NAME}"

Linux (Debian/Ubuntu):
  sudo cp mitmproxy-ca-cert.pem /usr/local/share/ca-certificates/instrument-sandbox.crt
  sudo update-ca-certificates
Linux (RHEL/Fedora):
  sudo cp mitmproxy-ca-cert.pem /etc/pki/ca-trust/source/anchors/instrument-sandbox.pem
  sudo update-ca-trust
  Python software using certifi/requests: export REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
  Remove after the bench test: delete the file and run the update command again.

Software that pins its server's certificate will refuse the rig: its connections fail (the report
shows them as TLS flows the rig could not read).  The CA key ({ca.key_file}) stays on the rig, 0600:
whoever has it can read the instrument's TLS.
"""
