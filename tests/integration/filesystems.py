"""Filesystems of a test's own, for faults of the disk under the daemon: a small tmpfs that a
test fills up, or a loop-mounted ext4 that the kernel turns read-only on an error. Mounting
needs root, which CI has."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def mounted(directory: Path, *how: str) -> Iterator[Path]:
    """A filesystem of its own at ``directory`` (``mount`` arguments ``how``) for the block."""
    assert os.geteuid() == 0, "mounting a filesystem of the test's own needs root (CI has it)"
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", *how, str(directory)], check=True, capture_output=True)
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=True, capture_output=True)


def tmpfs(size: str) -> tuple[str, ...]:
    """``mounted`` arguments for a tmpfs of ``size`` (``2m``, ``64m``)."""
    return ("-t", "tmpfs", "-o", f"size={size}", "tmpfs")


def fill(directory: Path) -> Path:
    """Write a file into ``directory`` until its filesystem is full; returns the file."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 4096)
    return filler


def ext4_image(image: Path, size: str = "16M") -> tuple[str, ...]:
    """A fresh ext4 filesystem in ``image``; ``mounted`` arguments for it on a loop device,
    read-only from the first error on (``errors=remount-ro``, the usual mount option)."""
    subprocess.run(["truncate", "-s", size, str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", str(image)], check=True)
    return ("-o", "loop,errors=remount-ro", str(image))


def fail_disk(mount_point: Path) -> None:
    """Have the kernel record an ext4 error on the filesystem at ``mount_point``, as a failing
    disk does: with ``errors=remount-ro`` it is read-only from then on, open files included."""
    found = subprocess.run(["findmnt", "-no", "SOURCE", str(mount_point)], check=True,
                           capture_output=True, text=True)  # fmt: skip
    device = os.path.basename(os.path.realpath(found.stdout.strip()))
    Path(f"/sys/fs/ext4/{device}/trigger_fs_error").write_text("test: disk error\n")


def repair(image: Path) -> None:
    """``e2fsck`` the unmounted image, as an operator would after the error."""
    subprocess.run(["e2fsck", "-fy", str(image)], capture_output=True)
