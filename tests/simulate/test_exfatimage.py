"""Files added to a mkfs.exfat image: fsck.exfat accepts the volume, and the rig's exFAT reader lists
exactly the files, names (long, non-ASCII, nested) and sizes that were added."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from sandbox.protocols.usb.disk import Disk
from sandbox.protocols.usb.exfat import ExfatVolume
from sandbox.simulate.exfatimage import ExfatImage

TOOLS = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"
FILES = {"/a.txt": b"a" * 10, "/Sequencing Runs/run 42/reads of sample one.fastq.gz": os.urandom(70_000),
         "/Sequencing Runs/Ünïcödé naïve résumé.csv": b"x,y\n" * 300, "/empty": b""}


@pytest.fixture()
def blank(tmp_path) -> bytes:
    mkfs = shutil.which("mkfs.exfat", path=TOOLS)
    if mkfs is None:
        pytest.skip("exfatprogs not installed (scripts/install-system-deps.sh)")
    image = tmp_path / "sbx-usb-blank.img"
    with open(image, "wb") as f:
        f.truncate(32 << 20)
    subprocess.run([mkfs, str(image)], check=True, capture_output=True)
    return image.read_bytes()


def test_fsck_accepts_what_we_add(blank, tmp_path):
    volume = ExfatImage(blank)
    for path, data in FILES.items():
        volume.add(path, data)
    image = tmp_path / "sbx-usb-files.img"
    image.write_bytes(volume.bytes())
    res = subprocess.run([shutil.which("fsck.exfat", path=TOOLS), "-n", str(image)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "directories 3, files 4" in res.stdout


def test_the_rig_reads_back_every_name_and_size(blank):
    volume = ExfatImage(blank)
    for path, data in FILES.items():
        volume.add(path, data)
    image = volume.bytes()
    reader = ExfatVolume.probe(image[:512], 0)
    disk = Disk()
    disk.put(0, image[:reader.heap + 64 * reader.cluster])
    files = {run.path: run.size for run in reader.files(disk).runs if not run.path.endswith("/")}
    assert files == {path: len(data) for path, data in FILES.items() if data}


def test_a_full_directory_or_volume_says_so(blank):
    volume = ExfatImage(blank)
    with pytest.raises(ValueError, match="full"):
        for i in range(200):
            volume.add(f"/DIR/{'long name ' * 5}{i}", b"x")
    with pytest.raises(ValueError, match="not an exFAT"):
        ExfatImage(bytes(4096))
