"""Client Initial packets of any content, protected as RFC 9001 5 says (written here from the RFC, not
with the rig's code, and checked against its Appendix A keys): what a hostile instrument sends."""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

INITIAL_SALT_V1 = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")


def _expand_label(secret: bytes, label: bytes, length: int) -> bytes:
    info = length.to_bytes(2, "big") + bytes([6 + len(label)]) + b"tls13 " + label + b"\x00"
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(secret, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]


def client_keys(dcid: bytes) -> tuple[bytes, bytes, bytes]:
    """(key, iv, header protection key) of the client's Initials (RFC 9001 5.2)."""
    initial = hmac.new(INITIAL_SALT_V1, dcid, hashlib.sha256).digest()
    secret = _expand_label(initial, b"client in", 32)
    return _expand_label(secret, b"quic key", 16), _expand_label(secret, b"quic iv", 12), _expand_label(secret, b"quic hp", 16)


def varint(n: int) -> bytes:
    for size, tag in ((1, 0), (2, 0x40), (4, 0x80), (8, 0xC0)):
        if n < 1 << (8 * size - 2):
            return (n | tag << (8 * size - 8)).to_bytes(size, "big")
    raise ValueError(n)


def crypto_frame(offset: int, data: bytes) -> bytes:
    return b"\x06" + varint(offset) + varint(len(data)) + data


def seal_initial(dcid: bytes, pn: int, payload: bytes, size: int = 1200) -> bytes:
    """A client Initial (version 1, a 4-byte packet number) holding ``payload``, padded to ``size``."""
    key, iv, hp = client_keys(dcid)
    payload = payload.ljust(size - 30 - len(dcid), b"\x00")
    header = (b"\xc3" + (1).to_bytes(4, "big") + bytes([len(dcid)]) + dcid + b"\x00" + b"\x00"
              + (0x4000 | (4 + len(payload) + 16)).to_bytes(2, "big"))
    pn_bytes = pn.to_bytes(4, "big")
    nonce = bytes(a ^ b for a, b in zip(iv, pn.to_bytes(12, "big"), strict=True))
    sealed = AESGCM(key).encrypt(nonce, payload, header + pn_bytes)
    sample = sealed[:16]                         # 4 bytes after the packet number starts
    encryptor = Cipher(algorithms.AES(hp), modes.ECB()).encryptor()
    mask = encryptor.update(sample) + encryptor.finalize()
    first = bytes([header[0] ^ (mask[0] & 0x0F)])
    return first + header[1:] + bytes(a ^ b for a, b in zip(pn_bytes, mask[1:5], strict=True)) + sealed
