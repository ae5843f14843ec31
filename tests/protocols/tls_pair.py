"""A real TLS client and server (OpenSSL through ``ssl.MemoryBIO``), in process, with a key log.

The bytes each side produces are handed to the test, which writes them into a capture with
``TcpConversation``, in any framing it likes (STARTTLS after a plaintext preamble, tiny segments):

    pair = TlsPair(tmp_path)
    for from_client, flight in pair.handshake():
        conv.send(flight, from_client=from_client)
    conv.send(pair.seal(b"EHLO rig\\r\\n"))
"""

from __future__ import annotations

import datetime
import ssl
import warnings
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# Flights exchanged before giving up on a handshake: TLS 1.2 needs 4, TLS 1.3 3.
MAX_FLIGHTS = 8


def self_signed(folder: Path, names: list[str]) -> tuple[Path, Path]:
    """A self-signed certificate for ``names`` (the first its common name) and its key, in ``folder``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def https_exchange(conv, pair: TlsPair, request: bytes) -> None:
    """Over ``conv`` (a ``TcpConversation``): ``pair``'s handshake, ``request`` sealed, an empty 200
    back, and the close."""
    for from_client, flight in pair.handshake():
        conv.send(flight, from_client=from_client)
    conv.send(pair.seal(request))
    conv.send(pair.seal(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", from_client=False), from_client=False)
    conv.close()


class TlsPair:
    """One TLS connection's two ends; ``keylog`` gets the client's NSS key log lines."""

    def __init__(self, folder: Path, version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3,
                 host: str = "mail.example", keylog: Path | None = None, ciphers: str = "",
                 server_options: int = 0) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        cert, key = self_signed(folder, [host])
        self.keylog = keylog or folder / "keylog.txt"
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.load_cert_chain(cert, key)
        server.options |= server_options
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.check_hostname, client.verify_mode = False, ssl.CERT_NONE
        client.keylog_filename = str(self.keylog)
        with warnings.catch_warnings():          # TLS 1.0 and 1.1: what old instruments speak, on purpose
            warnings.simplefilter("ignore", DeprecationWarning)
            server.maximum_version = client.maximum_version = version
            if version < ssl.TLSVersion.TLSv1_2:
                server.minimum_version = client.minimum_version = version
        if ciphers:                      # TLS 1.2 and older: the only suite both offer
            server.set_ciphers(ciphers)
            client.set_ciphers(ciphers)
        self._bio = {side: (ssl.MemoryBIO(), ssl.MemoryBIO()) for side in (True, False)}   # (incoming, outgoing)
        self._end = {True: client.wrap_bio(*self._bio[True], server_hostname=host),
                     False: server.wrap_bio(*self._bio[False], server_side=True)}

    def handshake(self) -> list[tuple[bool, bytes]]:
        """The handshake flights, ``(from_client, bytes)`` in the order they went."""
        flights: list[tuple[bool, bytes]] = []
        done = {True: False, False: False}
        for _ in range(MAX_FLIGHTS):
            for side in (True, False):
                if not done[side]:
                    try:
                        self._end[side].do_handshake()
                        done[side] = True
                    except ssl.SSLWantReadError:
                        pass
                flight = self._bio[side][1].read()
                if flight:
                    flights.append((side, flight))
                    self._bio[not side][0].write(flight)
            if all(done.values()) and not any(self._bio[side][1].pending for side in done):
                return flights
        raise RuntimeError("TLS handshake did not finish")

    def seal(self, data: bytes, from_client: bool = True) -> bytes:
        """``data`` as the records one side sends; the other side reads it back (so state stays in step)."""
        self._end[from_client].write(data)
        wire = self._bio[from_client][1].read()
        self._bio[not from_client][0].write(wire)
        got = b""
        while len(got) < len(data):
            got += self._end[not from_client].read(len(data) - len(got))
        assert got == data
        return wire
