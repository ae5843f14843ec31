"""PDF's standard security handler (ISO 32000 7.6.4; 2.0's AES-256), opened with the empty user password.

A PDF "protected" by an owner password alone (no copying, no printing: what report generators write
by default) opens in every viewer, but its streams are RC4 or AES ciphertext: 40 kB of reads in such a
report replayed clean, under every one of the five algorithms.  The file key is made from the empty
user password as a viewer makes it (revisions 2 to 4: MD5 of the padded password, the owner entry,
the permissions and the file's first ID; 5 and 6: SHA-256, or revision 6's hash rounds, of the user
entry's key salt, opening ``/UE``), checked against the user entry, and each stream decrypted with
its object's key (RC4, or AES-CBC after a 16-byte IV).  A document whose user password is not empty
cannot be opened: ``Security.unread`` says so (its bytes are not examined, never clean).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")
ENCRYPT_REF = re.compile(rb"/Encrypt\s+(\d{1,10})\s+(\d{1,5})\s+R")
FIRST_ID = re.compile(rb"/ID\s*\[\s*(<[0-9A-Fa-f\s]*>|\((?:\\.|[^\\)]){0,256}\))")
DICT_SPAN = 4096          # bytes of the encryption dictionary read
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _string(token: bytes) -> bytes:
    """A PDF string token's bytes: hex ``<...>`` or literal ``(...)`` with its escapes undone."""
    if token.startswith(b"<"):
        digits = re.sub(rb"[^0-9A-Fa-f]", b"", token)
        return bytes.fromhex((digits + b"0" * (len(digits) % 2)).decode())
    out, body, at = bytearray(), token[1:-1], 0
    while at < len(body):
        c = body[at:at + 1]
        if c != b"\\":
            out += c
            at += 1
            continue
        nxt = body[at + 1:at + 2]
        octal = re.match(rb"[0-7]{1,3}", body[at + 1:at + 4])
        if octal:
            out.append(int(octal.group(), 8) & 0xFF)
            at += 1 + len(octal.group())
        else:
            out += _ESCAPES.get(nxt, b"" if nxt in (b"\r", b"\n") else nxt)
            at += 2
    return bytes(out)


def _entry(dictionary: bytes, name: bytes) -> bytes | None:
    """A string entry's bytes (None if absent)."""
    m = re.search(rb"/" + name + rb"\s*(<[0-9A-Fa-f\s]*>|\((?:\\.|[^\\)])*\))", dictionary, re.S)
    return _string(m.group(1)) if m else None


def _number(dictionary: bytes, name: bytes, default: int) -> int:
    m = re.search(rb"/" + name + rb"\s+(-?\d{1,10})(?![\d.])", dictionary)
    return int(m.group(1)) if m else default


def _rc4(key: bytes, data: bytes) -> bytes:
    return Cipher(ARC4(key), mode=None).decryptor().update(data)


def _aes(key: bytes, data: bytes) -> bytes:
    """AES-CBC after a 16-byte IV, its padding taken off where it is whole (the line break before
    ``endstream`` is no ciphertext)."""
    extra = len(data) % 16
    if extra and not data[-extra:].strip(b"\r\n"):
        data = data[:-extra]
    if len(data) < 32 or len(data) % 16:
        return b""
    plain = Cipher(algorithms.AES(key), modes.CBC(data[:16])).decryptor().update(data[16:])
    pad = plain[-1]
    return plain[:-pad] if 1 <= pad <= 16 and plain.endswith(bytes([pad]) * pad) else plain


def _hash_r6(password: bytes, salt: bytes, user: bytes = b"") -> bytes:
    """ISO 32000-2 Algorithm 2.B: SHA-256 of the input, then rounds of AES-128-CBC and SHA-2."""
    k = hashlib.sha256(password + salt + user).digest()
    rounds = 0
    while True:
        k1 = (password + k + user) * 64
        e = Cipher(algorithms.AES(k[:16]), modes.CBC(k[16:32])).encryptor().update(k1)
        k = (hashlib.sha256, hashlib.sha384, hashlib.sha512)[sum(e[:16]) % 3](e).digest()
        rounds += 1
        if rounds >= 64 and e[-1] <= rounds - 32:
            return k[:32]


@dataclass
class Security:
    """A document's encryption: the file key opened with the empty password (None if it does not open),
    the algorithm, and what to say when it does not."""

    key: bytes | None
    revision: int
    aes: bool
    unread: str = ""

    def decrypt(self, data: bytes, number: int, generation: int) -> bytes:
        """A stream of object ``number`` decrypted (b"" when the document does not open)."""
        if self.key is None:
            return b""
        if self.revision >= 5:
            return _aes(self.key, data)
        salt = b"sAlT" if self.aes else b""
        key = hashlib.md5(self.key + number.to_bytes(4, "little")[:3] + generation.to_bytes(2, "little") + salt,
                          usedforsecurity=False).digest()[:min(len(self.key) + 5, 16)]
        return _aes(key, data) if self.aes else _rc4(key, data)


def security(data: bytes) -> Security | None:
    """The encryption of the document in ``data`` (None: it is not encrypted, or by a handler other
    than the standard one, said by ``unread``)."""
    ref = ENCRYPT_REF.search(data)
    if ref is None:
        return None
    at = re.search(rb"(?<![0-9])" + ref.group(1) + rb"\s+" + ref.group(2) + rb"\s+obj", data)
    if at is None:
        return Security(None, 0, False, "encrypted PDF whose encryption dictionary is missing")
    dictionary = data[at.end():at.end() + DICT_SPAN]
    dictionary = dictionary[:dictionary.find(b"endobj")] if b"endobj" in dictionary else dictionary
    if not re.search(rb"/Filter\s*/Standard", dictionary):
        return Security(None, 0, False, "PDF encrypted by a security handler other than the standard one")
    revision, version = _number(dictionary, b"R", 0), _number(dictionary, b"V", 0)
    owner, user = _entry(dictionary, b"O") or b"", _entry(dictionary, b"U") or b""
    aes = version >= 4 and re.search(rb"/CFM\s*/AESV[23]", dictionary) is not None
    if revision >= 5:
        ue = _entry(dictionary, b"UE") or b""
        if len(user) < 48 or len(ue) < 32:
            return Security(None, revision, True, "encrypted PDF whose user entry is broken")
        made = (lambda salt: hashlib.sha256(salt).digest()) if revision == 5 else (lambda salt: _hash_r6(b"", salt))
        if made(user[32:40]) != user[:32]:      # the validation salt: is the user password empty?
            return Security(None, revision, True, "PDF encrypted with a user password (not opened)")
        key_hash = made(user[40:48])            # the key salt
        key = Cipher(algorithms.AES(key_hash), modes.CBC(bytes(16))).decryptor().update(ue[:32])
        return Security(key, revision, True)
    first_id = FIRST_ID.search(data)
    ident = _string(first_id.group(1)) if first_id else b""
    length = _number(dictionary, b"Length", 40) // 8 if revision >= 3 else 5
    permissions = _number(dictionary, b"P", 0) & 0xFFFFFFFF
    seed = PAD + owner[:32] + permissions.to_bytes(4, "little") + ident
    if revision >= 4 and re.search(rb"/EncryptMetadata\s+false", dictionary):
        seed += b"\xff\xff\xff\xff"
    key = hashlib.md5(seed, usedforsecurity=False).digest()[:max(5, min(length, 16))]
    if revision >= 3:
        for _ in range(50):
            key = hashlib.md5(key, usedforsecurity=False).digest()[:len(key)]
    if not _user_checks(key, revision, ident, user):
        return Security(None, revision, aes, "PDF encrypted with a user password (not opened)")
    return Security(key, revision, aes)


def _user_checks(key: bytes, revision: int, ident: bytes, user: bytes) -> bool:
    """Whether ``key`` (the empty password's) makes the user entry (Algorithms 4 and 5)."""
    if revision == 2:
        return _rc4(key, PAD) == user[:32]
    made = _rc4(key, hashlib.md5(PAD + ident, usedforsecurity=False).digest())
    for n in range(1, 20):
        made = _rc4(bytes(b ^ n for b in key), made)
    return made == user[:16]
