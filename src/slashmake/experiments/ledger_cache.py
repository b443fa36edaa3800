"""The ledger's frames kept in ``.slashmake/ledger/``, so a read parses only the lines appended since.

``slashmake compare`` over a ledger of 100,000 rows spent seconds parsing lines it had parsed the
time before. The ledger only grows, a whole line at a time, so the frames of its first N lines stay
right for as long as those bytes stay its first bytes. :func:`load` gives what
:func:`slashmake.experiments.ledger.load` gives, and:

- the file as it was (same device, inode, size, mtime and ctime): the kept frames, nothing parsed;
- the file grown, its kept bytes unchanged (their SHA-1): only the new lines parsed, their frames
  appended to the kept ones where that is exactly what one read of the whole file would make (no
  new column, no column whose type would change, no kept row superseded by a new one); else all of
  it read again;
- anything else (rewritten, shortened, replaced): all of it read again.

A last line without its newline (an append under way, a torn write) is parsed on every read and
never kept, and each malformed line's warning is kept and given again on every read. Each
``--step`` has its own file. They are pickles of pandas frames, read only when their header (the
format, pandas' version, the ledger and step they are of) matches: written by slashmake into the
project's own ignored folder, they are trusted like the project's Snakefile beside them.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from slashmake.experiments.ledger import (
    LEDGER,
    Ledger,
    absent,
    legacy_key,
    only_step,
    param_keys,
    parse_bytes,
    paused_gc,
    recorded_results,
    recorded_runs,
    result_rows,
    run_frame,
    step_frame,
)

FOLDER = Path(".slashmake/ledger")
FORMAT = 1  # raised whenever State or the frames' making changes: older files are then ignored
Rows = list[tuple[int, dict[str, Any]]]
ARROW_FROM = 1 << 20  # bytes: below this the line-by-line read is done before pyarrow's reader is imported
_INT, _FLOAT, _BOOL, _OBJECT = np.dtype("int64"), np.dtype("float64"), np.dtype("bool"), np.dtype("object")


@dataclass(frozen=True)
class State:
    """The frames of a ledger's first ``offset`` bytes (``lines`` whole lines), and what appending needs."""

    offset: int
    lines: int
    digest: str  # SHA-1 of those bytes
    stat: tuple[int, ...] | None  # the file's (device, inode, size, mtime, ctime) when they were all of it
    steps: pd.DataFrame
    runs: pd.DataFrame
    warnings: tuple[str, ...]
    params: tuple[str, ...]  # the parameter names of the step rows (an upstream value of one is left out)
    runs2: frozenset[str]  # the runs the run record names (an agent's own row of one is superseded)
    pending: tuple[tuple[bool, str, tuple[str, str]], ...]  # each kept step row without schema: agent?, run, result


def load(root: Path, ledger: Path = LEDGER, warn: Callable[[str], None] | None = None,
         missing_ok: bool = False, step: str | None = None) -> Ledger:
    """Read ``root/ledger`` as :func:`slashmake.experiments.ledger.load` does, through the kept frames."""
    path = root / ledger
    if not path.exists():
        return absent(ledger, missing_ok)
    only = only_step(step)
    header = {"format": FORMAT, "pandas": pd.__version__, "ledger": str(ledger), "only": only}
    # One file per ledger and filter, whatever the versions: a newer slashmake or pandas replaces it.
    name = hashlib.sha1(repr((str(ledger), only)).encode(), usedforsecurity=False).hexdigest()[:16]
    with paused_gc():  # millions of small acyclic objects: see paused_gc
        state = read(path, root / FOLDER / f"{name}.pickle", header)
    for message in state.warnings:
        if warn is not None:
            warn(message)
    return Ledger(state.steps, state.runs, state.warnings)


def read(path: Path, store: Path, header: dict[str, Any]) -> State:
    """The ledger's state: kept in ``store``, brought up to date (and kept again), or made afresh."""
    only = header["only"]
    with open(path, "rb") as fh:
        st = os.fstat(fh.fileno())
        stat = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        kept = _kept(store, header)
        if kept is not None and kept.stat == stat:
            return kept
        data = fh.read()
    end = data.rfind(b"\n") + 1  # whole lines only are kept: a last line may still be being written
    state = None
    if kept is not None and kept.offset <= end:
        view = memoryview(data)
        sha = hashlib.sha1(view[:kept.offset], usedforsecurity=False)
        if sha.hexdigest() == kept.digest and kept.offset == end:  # the same lines (touched, or one unfinished)
            state = kept
        elif sha.hexdigest() == kept.digest:  # the kept bytes are still the file's first bytes
            sha.update(view[kept.offset:end])
            state = extend(kept, data[kept.offset:end], path.name, only)
            state = replace(state, digest=sha.hexdigest()) if state is not None else None
    if state is None:
        state = build(data if end == len(data) else data[:end], path.name, only)  # no copy of 100 MB if whole
    whole = end == len(data) == st.st_size  # the stat names these bytes only if nothing came since
    if state is not kept or (whole and state.stat != stat):
        state = replace(state, stat=stat if whole else None)
        _keep(store, header, state)
    if end < len(data) and data[end:].strip():  # the unfinished last line: read, never kept
        state = extend(state, data[end:], path.name, only) or build(data, path.name, only)
    return state


def build(data: bytes, name: str, only: tuple[str, ...]) -> State:
    """The state of these whole lines, read afresh (the frames :func:`ledger.load` makes of them):
    by pyarrow where it gives the same frames (a large ledger's first read), else line by line."""
    digest = hashlib.sha1(data, usedforsecurity=False).hexdigest()
    if len(data) >= ARROW_FROM:
        from slashmake.experiments import ledger_arrow  # pyarrow's reader: imported only where it pays

        fast = ledger_arrow.read(data, name, only)
        if fast is not None:
            return State(len(data), data.count(b"\n"), digest, None, fast.steps, run_frame(fast.rows),
                         fast.warnings, fast.params, fast.runs2 | recorded_runs(fast.rows), ())
    rows, messages = parse_bytes(data, name, 1, None, only)
    steps = result_rows(rows)
    return State(len(data), data.count(b"\n"), digest, None, step_frame(steps), run_frame(rows), tuple(messages),
                 tuple(param_keys(steps)), frozenset(recorded_runs(rows)), _pending(steps))


def extend(state: State, tail: bytes, name: str, only: tuple[str, ...]) -> State | None:
    """``state`` with the lines that follow its bytes; None where appending their frames is not sure
    to give what one read of all the lines would (then read them all)."""
    rows, messages = parse_bytes(tail, name, state.lines + 1, None, only)
    runs2 = recorded_runs(rows)
    results = recorded_results(rows)
    for agent, run, result in state.pending:  # a kept row superseded now would leave its frame
        if (agent and run and run in runs2) or (not agent and result in results):
            return None
    steps = result_rows(rows, state.runs2 | runs2)
    if not set(param_keys(steps)) <= set(state.params):  # a new parameter may hide a kept upstream value
        return None
    step_rows = append(state.steps, step_frame(steps, state.params))
    run_rows = append(state.runs, run_frame(rows))
    if step_rows is None or run_rows is None:
        return None
    return State(state.offset + len(tail), state.lines + tail.count(b"\n"), "", None, step_rows, run_rows,
                 state.warnings + tuple(messages), state.params, state.runs2 | runs2,
                 state.pending + _pending(steps))


def append(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame | None:
    """``old``'s rows then ``new``'s, typed as pandas types the columns of both made at once; None
    where that is not certain (a new column, or types whose union is not one of the rules below)."""
    if len(new) == 0:
        return old
    if len(old) == 0:
        return new
    if not set(new.columns) <= set(old.columns):
        return None
    expected: dict[str, Any] = {}
    for col in old.columns:
        a = old[col].dtype
        some = a == _OBJECT and old[col].notna().any()  # objects of mixed kinds stay objects with more
        if col in new.columns:
            b = new[col].dtype
            if a == b:
                expected[col] = a
            elif {a, b} == {_INT, _FLOAT}:
                expected[col] = _FLOAT
            elif some and b in (_BOOL, _INT):
                expected[col] = _OBJECT
            else:
                return None
        elif a in (_INT, _FLOAT):  # missing from the new rows: NaN there, as one read makes it
            expected[col] = _FLOAT
        elif a == _BOOL or some:
            expected[col] = _OBJECT
        elif isinstance(a, pd.StringDtype):
            expected[col] = a
        else:
            return None
    with warnings.catch_warnings():  # pandas 2's notice on all-missing columns: the types are checked below
        warnings.simplefilter("ignore", FutureWarning)
        out = pd.concat([old, new], ignore_index=True)
    if list(out.columns) != list(old.columns) or any(out[c].dtype != t for c, t in expected.items()):
        return None
    return out


def _pending(steps: Rows) -> tuple[tuple[bool, str, tuple[str, str]], ...]:
    """The step rows without schema that a later row could still supersede (ledger.superseded_fast)."""
    return tuple((r.get("kind") == "agent", str(r.get("run") or ""), legacy_key(r))
                 for _, r in steps if r.get("schema") is None)


def _kept(store: Path, header: dict[str, Any]) -> State | None:
    try:
        with open(store, "rb") as fh:
            if pickle.load(fh) != header:  # slashmake's own file: see the module's docstring
                return None
            state = pickle.load(fh)
    except FileNotFoundError:
        return None
    except Exception:  # damaged, cut short, of another version: read the ledger instead
        return None
    return state if isinstance(state, State) else None


def _keep(store: Path, header: dict[str, Any], state: State) -> None:
    """Write the state beside the others, whole or not at all (a reader never sees half a file)."""
    tmp = None
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=store.parent, prefix=store.stem, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(header, fh, protocol=5)
            pickle.dump(state, fh, protocol=5)
        os.replace(tmp, store)
    except OSError:  # a read-only project, a full disk: the read is right, only the next one is slower
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
