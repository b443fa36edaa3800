"""The shared cache's storage: DVC's content-addressed object store, and one small entry per key.

Inside the cache location (a folder, or any DVC remote: ``ssh://``, ``s3://``...)::

    files/md5/ab/cdef0123...          each output file once, named by its MD5 (dvc-data's HashFileDB)
    entries/9f/9f86d081....json        a key's entry: {output name: {md5, size, ext}}, its step, when

Everything is written under the location and nowhere else. An object is added by dvc-data
(upload to a temporary name, then a rename); an entry is written to a temporary name and renamed
after every object it names is in place, so a reader sees a complete entry or none, and two
clones storing one key at once leave one complete entry (the last rename). A fetched file is
hashed again before it replaces an output: a corrupted or truncated object is never used, and
both it and its entry are removed so that the step runs and stores a good one.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slashmake.cache.settings import is_url
from slashmake.errors import FlowError

if TYPE_CHECKING:
    from dvc_data.hashfile.db import HashFileDB
    from dvc_objects.fs.base import FileSystem


class Corrupted(Exception):
    """An entry or object failed its checksum (or could not be read); the message says which."""


@dataclass(frozen=True)
class Entry:
    """One cached job: its key and what it holds."""

    key: str
    outputs: dict[str, dict[str, Any]]  # output name -> {md5, size, ext}
    step: str = ""
    rule: str = ""
    created: float = 0.0

    @property
    def size(self) -> int:
        """The bytes of the entry's files."""
        return sum(int(o.get("size", 0)) for o in self.outputs.values())

    def as_json(self) -> dict[str, Any]:
        """The entry as stored."""
        return {"key": self.key, "step": self.step, "rule": self.rule, "created": self.created,
                "outputs": self.outputs}


def md5_of(path: Path) -> str:
    """A local file's MD5, as DVC computes it (the object's name)."""
    from dvc_data.hashfile.hash import file_md5
    from dvc_objects.fs.local import LocalFileSystem

    return str(file_md5(os.fspath(path), LocalFileSystem()))


def open_fs(location: str, remote: dict[str, Any]) -> tuple[FileSystem, str]:
    """The DVC filesystem and the path inside it for a folder or a remote URL."""
    from dvc_objects.fs import get_fs_cls
    from dvc_objects.fs.local import LocalFileSystem

    if not is_url(location):
        return LocalFileSystem(), location
    try:
        cls = get_fs_cls({"url": location})
    except ImportError as e:  # dvc-objects names the plugin to install (dvc-s3, dvc-ssh...)
        raise FlowError(f"cache location {location}: {e}") from None
    config = {**cls._get_kwargs_from_urls(location), **remote}
    return cls(**config), cls._strip_protocol(location)


class Store:
    """The cache at one location."""

    def __init__(self, location: str, remote: dict[str, Any] | None = None) -> None:
        from dvc_data.hashfile.db import HashFileDB

        self.location = location
        self.fs, self.path = open_fs(location, remote or {})
        self.odb: HashFileDB = HashFileDB(self.fs, self.fs.join(self.path, "files", "md5"))
        if not is_url(location):
            try:
                Path(location).mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise FlowError(f"cache location {location}: cannot create it ({e.strerror})") from None

    # -- entries ----------------------------------------------------------------------------------
    def entry_path(self, key: str) -> str:
        """Where the entry of ``key`` lives inside the location."""
        return self.fs.join(self.path, "entries", key[:2], f"{key}.json")

    def lookup(self, key: str) -> Entry | None:
        """The entry of ``key``, None when there is none; Corrupted when it cannot be read."""
        path = self.entry_path(key)
        try:
            text = self.fs.cat_file(path)
        except FileNotFoundError:
            return None
        try:
            data = json.loads(text)
            entry = Entry(data["key"], dict(data["outputs"]), data.get("step", ""), data.get("rule", ""),
                          float(data.get("created", 0)))
            if entry.key != key or not all(isinstance(o.get("md5"), str) for o in entry.outputs.values()):
                raise ValueError("wrong key or outputs")
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            self.remove(key)
            raise Corrupted(f"entry {key[:12]} is unreadable ({e.__class__.__name__})") from None
        return entry

    def entries(self) -> list[Entry]:
        """Every readable entry, oldest first."""
        out: list[Entry] = []
        try:
            files = self.fs.find(self.fs.join(self.path, "entries"))
        except FileNotFoundError:
            return []
        for f in files:
            name = self.fs.name(f)
            if not name.endswith(".json") or ".tmp-" in name:
                continue
            try:
                entry = self.lookup(name[: -len(".json")])
            except Corrupted:
                continue
            if entry is not None:
                out.append(entry)
        return sorted(out, key=lambda e: e.created)

    def remove(self, key: str) -> None:
        """Drop an entry (its objects stay until ``prune`` finds nothing names them)."""
        try:
            self.fs.remove(self.entry_path(key))
        except FileNotFoundError:
            pass

    # -- fetching and storing -----------------------------------------------------------------------
    def fetch(self, entry: Entry, dest: dict[str, Path]) -> None:
        """Copy the entry's files to ``dest`` (output name -> path), each checked against its MD5.

        All files are downloaded and checked before any output is replaced. On a mismatch the bad
        object and the entry are removed and Corrupted says which file it was.
        """
        staged: list[tuple[Path, Path]] = []
        try:
            for name, target in dest.items():
                info = entry.outputs.get(name)
                if info is None:
                    raise Corrupted(f"entry {entry.key[:12]} has no output {name!r}")
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f".{target.name}.cache-{uuid.uuid4().hex[:8]}")
                staged.append((tmp, target))
                obj = self.odb.oid_to_path(info["md5"])
                try:
                    self.fs.get_file(obj, os.fspath(tmp))
                except FileNotFoundError:
                    raise Corrupted(f"{name}: object {info['md5']} is missing") from None
                actual = md5_of(tmp)
                if actual != info["md5"] or tmp.stat().st_size != int(info.get("size", -1)):
                    self._drop_object(info["md5"])
                    raise Corrupted(f"{name}: checksum mismatch (md5 {actual}, expected {info['md5']}; "
                                    f"{tmp.stat().st_size} of {info.get('size')} bytes)")
        except Corrupted:
            self.remove(entry.key)
            for tmp, _ in staged:
                tmp.unlink(missing_ok=True)
            raise
        for tmp, target in staged:
            if target.is_symlink() or target.exists():
                target.unlink()
            os.replace(tmp, target)

    def _drop_object(self, md5: str) -> None:
        try:
            self.odb.delete(md5)
        except (FileNotFoundError, OSError):
            pass

    def put(self, key: str, files: dict[str, Path], step: str = "", rule: str = "") -> Entry:
        """Store a finished job's files under ``key``: objects first, then the entry (atomically)."""
        from dvc_objects.fs.local import LocalFileSystem

        outputs: dict[str, dict[str, Any]] = {}
        local = LocalFileSystem()
        for name, path in files.items():
            md5 = md5_of(path)
            outputs[name] = {"md5": md5, "size": path.stat().st_size, "ext": path.suffix}
            self.odb.add(os.fspath(path), local, md5)
        entry = Entry(key, outputs, step, rule, time.time())
        final = self.entry_path(key)
        self.fs.makedirs(self.fs.parent(final), exist_ok=True)
        tmp = f"{final}.tmp-{uuid.uuid4().hex}"
        self.fs.pipe_file(tmp, json.dumps(entry.as_json(), sort_keys=True).encode())
        try:
            if self.fs.exists(final) and not isinstance(self.fs, LocalFileSystem):
                self.fs.remove(final)  # an sftp rename does not replace; a local one does, atomically
            self.fs.mv(tmp, final)
        except OSError:
            # another clone renamed its complete entry into place first: keep that one
            self.fs.remove(tmp)
        return entry

    # -- size and pruning ---------------------------------------------------------------------------
    def objects(self) -> dict[str, int]:
        """Every stored object: md5 -> size in bytes."""
        root = self.fs.join(self.path, "files", "md5")
        out: dict[str, int] = {}
        try:  # two levels, as dvc-data lays objects out: md5/ab/cdef...; ls gives the sizes with the names
            prefixes = [d["name"] for d in self.fs.ls(root, detail=True) if d.get("type") == "directory"]
        except FileNotFoundError:
            return {}
        for prefix in prefixes:
            for info in self.fs.ls(prefix, detail=True):
                name = self.fs.name(info["name"])
                if info.get("type") != "directory" and "." not in name:
                    out[self.fs.name(prefix) + name] = int(info.get("size") or 0)
        return out

    def prune(self, older_than: float | None = None, max_size: int | None = None,
              now: float | None = None) -> tuple[list[Entry], int]:
        """Drop entries older than ``older_than`` seconds, then the oldest until the objects fit in
        ``max_size`` bytes, then every object no remaining entry names; (dropped entries, bytes freed)."""
        now = time.time() if now is None else now
        entries = self.entries()
        dropped = [e for e in entries if older_than is not None and now - e.created > older_than]
        kept = [e for e in entries if e not in dropped]
        objects = self.objects()

        def used(es: list[Entry]) -> int:
            return sum(objects.get(m, 0) for m in {o["md5"] for e in es for o in e.outputs.values()})

        while max_size is not None and kept and used(kept) > max_size:
            dropped.append(kept.pop(0))
        for e in dropped:
            self.remove(e.key)
        named = {o["md5"] for e in kept for o in e.outputs.values()}
        freed = 0
        for md5, size in objects.items():
            if md5 not in named:
                self._drop_object(md5)
                freed += size
        return dropped, freed
