"""Inputs the fuzzers (`make fuzz`) found crashing a component, kept as regression tests."""

from __future__ import annotations

import base64

import pytest

from sandbox.decode import expand
from sandbox.decode.base import Budget
from sandbox.decode.zip import ZipDecoder

# decoder-zip, 20 s in: a central-directory entry with an empty file name makes zipfile's
# ZipInfo.is_dir() raise IndexError; the expander notes "error: zip raised IndexError" and the
# members after it are never examined (a hiding place).  The decode layer is another change's:
# strict xfail, so this fails (and the marker goes) the day the decoder is fixed.
EMPTY_NAME_ZIP = base64.b64decode(
    "UEsDBBQAAAAIAGF7g11c7vq7owAAAC4OAAALAAAAcmVhZHMuZmFzdHG11isOAzEMRVGeVZSXjJ+nv6CxAqySIq9k9g/qrqDoBljOaXTwi8ppdE6jcxqd0+icRuc0OqXxC1BLAQIUAxSA///3/56EfV1c7vq7owAAAC4OAAALAAAAAAAAAAAAAACAAQAAFAEAAAAAAABmYXN0cVBLBQYAAAAAAQABADkAAADMAAAAAAA=")


@pytest.mark.xfail(strict=True, raises=IndexError, reason="zip decoder: empty member name (decode layer's fix)")
def test_zip_with_an_empty_member_name_decodes_without_raising() -> None:
    list(ZipDecoder.decode(EMPTY_NAME_ZIP, Budget(1 << 20, "test")))


@pytest.mark.xfail(strict=True, reason="zip decoder: empty member name (decode layer's fix)")
def test_zip_with_an_empty_member_name_is_examined() -> None:
    assert not any(note.startswith("error:") for note in expand(EMPTY_NAME_ZIP, ("tcp",)).notes)
