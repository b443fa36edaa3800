"""The no-op fast path: answer "nothing to do" without starting Snakemake, when that is its answer.

After a fully successful ``slashmake run``, a stamp in ``.slashmake/noop/`` records the state of
everything Snakemake's rerun decision reads for that run:

- the project files that decide what compiles and how Snakemake reads it: the Snakefile and
  ``rules/`` (compiled flows and chains included), ``config/``, the definition folders, the
  software environment file, and slashmake's and Snakemake's own code;
- every file of the run's jobs: found by walking Snakemake's own metadata records
  (``.snakemake/metadata``) from the target's record through each job's inputs, with every output
  and log of each rule reached, and the records themselves (they hold parameters and code).

A file's state is its size, mtime, ctime and inode (``None`` for a file that did not exist; no
ctime for code files, which a hard link or chmod of the installed tree touches), and a
folder's state catches files added to or removed from it. Paths are stamped relative to the project
root, beside the root's own identity (real path, device, inode): a copied or moved project never
answers from the original's files. Plugin folders and ``script:`` files are stamped too, and a run
that reads a file outside the project gets no stamp: where a dependency cannot be vouched for,
Snakemake decides. A later run with the same chain and
options whose files all match, with no incomplete job and no lock left in ``.snakemake``, is a
no-op in Snakemake too. The stamp is removed before every run of its chain and written only after
one exits 0, so a failed or killed run never leaves one behind.
"""

from __future__ import annotations

import hashlib
import json
import os
from base64 import urlsafe_b64decode
from collections.abc import Iterable
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from slashmake.definitions import COMMAND_DIRS, DROID_DIRS, SKILL_DIRS

STAMPS = Path(".slashmake/noop")
# What decides how a chain compiles and how Snakemake reads the workflow.
PROJECT_FILES = ("Snakefile", "rules", "config", "profiles", "environment.yml", "workflow/envs",
                 *(d[0] for d in COMMAND_DIRS), *(d[0] for d in DROID_DIRS), *SKILL_DIRS)
State = list[int] | None
# Parameters computed by running a program each time Snakemake parses the workflow (an agent
# command's `!` lines): no file shows their change, so a flow that has them always asks Snakemake.
DYNAMIC = ("bang_fingerprint(",)


def stamp_file(root: Path, key: dict[str, Any]) -> Path:
    """Where the stamp of one run (chain text, overrides, executor, profile) lives."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return root / STAMPS / f"{digest}.json"


def _state(path: str) -> State:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def state_of(root: Path, key: str) -> State:
    """The state of a stamped path: a project path (relative) or a code file (absolute).

    A code file's state leaves out its ctime. The ctime catches a project file rewritten with its
    old mtime put back; installed code is not edited in place (an edit or a reinstall changes its
    mtime or inode), while its ctime also moves when someone hard-links or chmods the installed
    tree (a copy of the packages for a pod), which changes nothing Snakemake decides.
    """
    state = _state(os.path.join(root, key))  # an absolute key: join keeps it
    return state[:2] + state[3:] if state is not None and os.path.isabs(key) else state


def _walk(root: Path, rels: Iterable[str]) -> list[str]:
    """Every file and folder under the given project paths, relative to ``root`` (missing ones too:
    their appearing counts). Dot-folders are walked: the loader reads ``workflow/commands/.wip/``."""
    out: list[str] = []
    for rel in rels:
        top = os.path.join(root, rel)
        out.append(os.path.normpath(rel))
        for dirpath, dirnames, filenames in os.walk(top, followlinks=True):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            here = os.path.relpath(dirpath, root)
            out += [os.path.join(here, d) for d in dirnames]
            out += [os.path.join(here, f) for f in filenames if not f.endswith(".tmp")]
    return out


def code_files() -> list[str]:
    """slashmake's modules (every stage: the compiler decides what runs) and Snakemake's package
    entry: a new version of either decides anew. Absolute: the code is not the project's."""
    here = Path(__file__).resolve().parent.parent
    files = [str(p) for p in sorted(here.rglob("*.py"))]
    spec = find_spec("snakemake")
    if spec is not None and spec.origin:
        files.append(spec.origin)
    return files


def root_identity(root: Path) -> list[Any]:
    """The project folder itself: its real path, device and inode. A copied, moved or renamed
    project is another folder, whose stamp (copied along with it) vouches for nothing."""
    real = os.path.realpath(root)
    try:
        st = os.stat(real)
    except OSError:
        return [real, None, None]
    return [real, st.st_dev, st.st_ino]


def project_state(root: Path, extra: Iterable[str] = ()) -> dict[str, State]:
    """The state of the project files and code that decide what a run compiles to.

    Project files are keyed by their path relative to ``root``; ``extra`` are more project paths
    the flow depends on (plugin folders, ``script:`` files). Code files are keyed absolute."""
    keys = [*_walk(root, [*PROJECT_FILES, *extra]), *code_files()]
    return {p: state_of(root, p) for p in keys}


def outside(root: Path, rel: str) -> bool:
    """Whether a project path leaves the project (after symlinks): its state then cannot be vouched for."""
    real = Path(os.path.realpath(os.path.join(root, rel)))
    return not real.is_relative_to(Path(os.path.realpath(root)))


def _records(root: Path) -> dict[str, tuple[str, dict[str, Any]]]:
    """Snakemake's metadata records by output path: (record file, record).

    A record's file name is the urlsafe base64 of the output path, split into folders ('@'-prefixed
    parts) where it is longer than a file name may be (snakemake/persistence/file.py).
    """
    base = root / ".snakemake" / "metadata"
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for dirpath, _, filenames in os.walk(base):
        rel = os.path.relpath(dirpath, base)
        prefix = "" if rel == "." else "".join(part[1:] for part in rel.split(os.sep))
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                output = urlsafe_b64decode(prefix + name).decode()
                with open(path) as fh:
                    record = json.load(fh)
            except (ValueError, OSError):
                continue  # not a record Snakemake wrote: the walk below simply does not reach it
            if isinstance(record, dict):
                out[output] = (path, record)
    return out


def flow_files(root: Path, target: str) -> list[str] | None:
    """Every file of the jobs the last run of ``target`` covered; None when that cannot be vouched for.

    None when Snakemake kept no record of the target, or when an input of a job reached is newer
    than its output with other content than the job read (Snakemake would rerun the job; a newer
    input with the recorded checksum it lets be, as here).
    """
    records = _records(root)
    by_rule: dict[str, list[str]] = {}
    for output, (_, rec) in records.items():
        by_rule.setdefault(str(rec.get("rule")), []).append(output)
    if target not in by_rule:
        return None
    rules: set[str] = set()
    files: set[str] = set()
    queue = [target]
    while queue:
        rule = queue.pop()
        if rule in rules:
            continue
        rules.add(rule)
        for output in by_rule.get(rule, []):
            record_file, rec = records[output]
            inputs = [str(p) for p in rec.get("input") or []]
            files.update((output, record_file, *inputs, *(str(p) for p in rec.get("log") or [])))
            made = _state(os.path.join(root, output))
            for path in inputs:
                used = _state(os.path.join(root, path))
                if made is not None and used is not None and used[1] > made[1] \
                        and not _same_content(os.path.join(root, path), rec.get("input_checksums"), path):
                    return None
                if path in records:
                    queue.append(str(records[path][1].get("rule")))
    return sorted(files)


def _same_content(path: str, checksums: Any, key: str) -> bool:
    """Whether ``path`` still has the checksum Snakemake recorded for it as the job's input."""
    recorded = checksums.get(key) if isinstance(checksums, dict) else None
    if not isinstance(recorded, str):
        return False
    algorithm, _, digest = recorded.rpartition(":")
    if algorithm not in ("", "sha256"):
        return False
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest() == digest
    except OSError:
        return False


def _quiet(root: Path) -> bool:
    """No incomplete job and no lock in Snakemake's folder (a killed run leaves both)."""
    for sub in ("incomplete", "locks"):
        folder = root / ".snakemake" / sub
        if folder.is_dir() and any(True for _ in os.scandir(folder)):
            return False
    return True


def fresh(root: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """The stamp of ``key`` when nothing it records has changed since; otherwise None."""
    try:
        stamp = json.loads(stamp_file(root, key).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(stamp, dict) or stamp.get("key") != key or not _quiet(root):
        return None
    if stamp.get("root") != root_identity(root):
        return None  # another folder (a copy, a move): Snakemake decides
    states = stamp.get("files")
    if not isinstance(states, dict):
        return None
    for path, state in states.items():
        if state_of(root, path) != state:
            return None
    return stamp


def forget(root: Path, key: dict[str, Any]) -> None:
    """Remove the stamp of ``key`` (before a run starts: a run that does not finish leaves none)."""
    stamp_file(root, key).unlink(missing_ok=True)


def record(root: Path, key: dict[str, Any], target: str, before: dict[str, State], summary: str,
           compiled: Iterable[Path] = (), extra: Iterable[str] = ()) -> bool:
    """Write the stamp after a successful run; ``before`` is ``project_state`` from before it.

    ``compiled`` are the compiled files the run included: one with a parameter in ``DYNAMIC``
    gets no stamp. ``extra``: the project paths ``before`` was taken with.

    Nothing is written when a project file changed during the run (the run may have compiled the
    old one), when the run left work behind, or when ``flow_files`` cannot vouch for its files.
    """
    extra = list(extra)
    if project_state(root, extra) != before or not _quiet(root):
        return False
    for path in compiled:
        try:
            text = path.read_text()
        except OSError:
            return False
        if any(marker in text for marker in DYNAMIC):
            return False
    files = flow_files(root, target)
    if files is None:
        return False
    code = set(code_files())
    if any(outside(root, f) for f in [*files, *(p for p in before if p not in code)]):
        return False  # a file outside the project: not ours to vouch for
    states = dict(before)
    states.update({os.path.normpath(f): state_of(root, f) for f in files})
    path = stamp_file(root, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps({"key": key, "target": target, "summary": summary, "root": root_identity(root),
                               "files": states}))
    os.replace(tmp, path)
    return True
