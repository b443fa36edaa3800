"""Small I/O helpers: atomic writes, canonical hashing, flag parsing."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


def tmp_path_for(path: str | Path) -> Path:
    """A temp name beside ``path`` (same filesystem, so os.replace is atomic)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    os.close(fd)
    return Path(name)


def atomic_write(path: str | Path, writer: Callable[[Path], object]) -> None:
    """Call ``writer(tmp)`` then rename tmp onto ``path``; a crash leaves no partial ``path``."""
    tmp = tmp_path_for(path)
    try:
        writer(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Atomically write a text file."""
    atomic_write(path, lambda p: p.write_text(text))


def write_json(path: str | Path, obj: Any) -> None:
    """Atomically write JSON (sorted keys, so equal content gives equal bytes)."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def write_metrics(path: str | Path, metrics: Mapping[str, Any]) -> None:
    """Write a flat metrics JSON object; call this LAST in a step."""
    flat: dict[str, Any] = {}
    for k, v in metrics.items():
        if isinstance(v, dict | list | tuple):
            raise ValueError(f"metrics must be flat; key {k!r} holds {type(v).__name__}")
        flat[k] = _json_default(v) if not isinstance(v, str | int | float | bool | None) else v
    write_json(path, flat)


def _json_default(v: Any) -> Any:
    # numpy scalars/booleans: convert to the Python type so JSON booleans stay booleans.
    if hasattr(v, "item"):
        return v.item()
    if isinstance(v, Path):
        return str(v)
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def read_json(path: str | Path) -> Any:
    """Read a JSON file."""
    with open(path) as fh:
        return json.load(fh)


def sha256_file(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def parse_bool(s: str | bool) -> bool:
    """Parse a CLI flag value as YAML/Python would print it (true/True/1/yes)."""
    if isinstance(s, bool):
        return s
    v = str(s).strip().lower()
    if v in {"1", "true", "yes", "y", "on"}:
        return True
    if v in {"0", "false", "no", "n", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {s!r}")
