"""Checking what came back from the pod, and only then putting it in place."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Iterable, Mapping

Manifest = Mapping[str, tuple[int, str, float]]


class VerifyError(Exception):
    """An output is missing, truncated or altered after the transfer back."""


def sha256(path: str) -> str:
    """The sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def covered(path: str, manifest: Manifest) -> bool:
    """Whether the manifest holds path itself or (a directory output) files below it."""
    if path in manifest:
        return True
    prefix = path.rstrip("/") + "/"
    return any(p.startswith(prefix) for p in manifest)


def missing_outputs(required: Iterable[str], manifest: Manifest) -> list[str]:
    """The required outputs the remote manifest does not account for."""
    return [p for p in required if not covered(p, manifest)]


def check_staged(staging: str, manifest: Manifest) -> None:
    """Compare each staged file's size and sha256 with the remote manifest."""
    problems = []
    for rel, (size, digest, _mtime) in sorted(manifest.items()):
        local = os.path.join(staging, rel)
        if not os.path.isfile(local):
            problems.append(f"{rel}: missing after transfer")
        elif os.path.getsize(local) != size:
            problems.append(f"{rel}: size {os.path.getsize(local)} != remote {size} (truncated?)")
        elif sha256(local) != digest:
            problems.append(f"{rel}: sha256 differs from the remote file")
    if problems:
        raise VerifyError("runpod: outputs failed verification:\n  " + "\n  ".join(problems))


def place(staging: str, manifest: Manifest, dir_outputs: Iterable[str], root: str) -> None:
    """Move verified files from staging into the work folder, newest mtime becoming now.

    Remote mtimes are shifted by one offset so their order survives (outputs made later in a
    group stay newer) while a pod clock that runs behind cannot make them older than inputs.
    """
    for d in dir_outputs:
        target = os.path.join(root, d)
        if os.path.isdir(target):
            shutil.rmtree(target)
    offset = time.time() - max((m for _, _, m in manifest.values()), default=0.0)
    for rel, (_size, _digest, mtime) in manifest.items():
        dest = os.path.join(root, rel)
        os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
        os.replace(os.path.join(staging, rel), dest)
        os.utime(dest, (mtime + offset, mtime + offset))
