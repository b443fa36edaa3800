"""A ledger's first read in compiled code: pyarrow's JSON reader, on every core, for the lines the run
record wrote.

:func:`slashmake.experiments.ledger.load` parses a line at a time and builds frames from dicts: the
first ``compare`` over 100,000 rows spent three seconds there. pyarrow reads the same lines to
columns in a third of that. It is used only where its frames are exactly the line-by-line read's,
and :func:`read` returns None for anything else (the caller then reads line by line):

- each line that is not ``{...}``, and each run row, is parsed alone as before (a malformed line is
  reported by its number; run rows are few, and their frame is built as before); an object among
  those lines that is not a run row means None;
- pyarrow refuses anything orjson refuses except ``NaN``, ``Infinity`` and integers past 64 bits,
  which it reads as floats: a float column holding a non-finite value, or an integral value of
  2**63 or more, means None (a float such as ``1e19`` then costs only the slower read);
- every row has a ``schema`` (so no row is superseded by a later one) and a ``metrics`` object;
- the fields a frame shows are scalars, and its nested objects hold only scalars: strings pyarrow
  would take for times, lists and objects inside them mean None.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from slashmake.experiments.ledger import METRIC, PARAM, TOP, Parts, join_parts, parse_bytes, step_frame

NESTED = {"cost": "", "git": "", "metrics": METRIC, "params": PARAM, "upstream": PARAM}
# Read as text whatever it holds: pyarrow would make times of "2026-12-03T10:00:00" (a field of
# another type is left to its inference; one it makes times of means the line-by-line read).
TEXT = ("time",)
SCALAR = (pa.types.is_null, pa.types.is_boolean, pa.types.is_int64, pa.types.is_float64, pa.types.is_string)
# Blocks of 4 MB: 100,000 rows read in 0.32 s on 2 cores, against 0.46 s in blocks of 1 MB (the default).
READ = pj.ReadOptions(block_size=4 << 20)
RUN_ROW = (b'"kind": "run"', b'"kind":"run"')  # how the run record writes a run row (json.dumps)
Rows = list[tuple[int, dict[str, Any]]]


@dataclass(frozen=True)
class Read:
    """What :func:`read` made of the lines: the step frame, and the lines parsed one at a time."""

    steps: pd.DataFrame
    params: tuple[str, ...]  # the parameter names of the step rows, in order of appearance
    runs2: frozenset[str]  # the runs the step rows name (all rows have a schema)
    rows: Rows  # the run rows, parsed as ledger.parse_bytes parses them
    warnings: tuple[str, ...]


def read(data: bytes, name: str, only: tuple[str, ...]) -> Read | None:
    """The step rows of ``data`` (whole lines of ledger ``name``) read by pyarrow, or None where the
    line-by-line read could differ (see the module's docstring)."""
    wanted = [t.encode() for t in only]
    kept: list[bytes] = []
    numbers: list[int] = []
    rows: Rows = []
    warnings: list[str] = []
    # Where a run row's text is (a line in 50): found in one pass, not looked for in every line.
    runs = sorted(i for text in RUN_ROW for i in occurrences(data, text))
    next_run = runs[0] if runs else len(data)
    r, end = 0, -1
    want = wanted[0] if len(wanted) == 1 else None  # --step: one text (a plain `in` per line is the fast loop)
    for number, line in enumerate(data.split(b"\n"), 1):
        end += len(line) + 1  # the offset of this line's newline
        run_line = next_run < end
        while next_run < end:
            r += 1
            next_run = runs[r] if r < len(runs) else len(data)
        if line.endswith(b"}") and line.startswith(b"{"):
            if (want not in line) if want is not None else (wanted and not any(t in line for t in wanted)):
                continue  # as ledger.parse_bytes: not parsed
            if not run_line:
                kept.append(line)
                numbers.append(number)
                continue
        elif not line.strip():
            continue
        got, told = parse_bytes(line, name, number, None, only)
        if any(row.get("kind") != "run" for _, row in got):
            return None  # a step row spaced otherwise, or one that mentions a run row's text
        rows += got
        warnings += told
    if not kept:
        return Read(step_frame([]), (), frozenset(), rows, tuple(warnings))
    text = b"\n".join(kept)
    table = columns(text)
    if table is None or table.num_rows != len(numbers) or not faithful(table):
        return None
    parts = to_parts(table, numbers, text)
    if parts is None:
        return None
    params = tuple(c[len(PARAM):] for c in parts.params.columns)
    return Read(join_parts(parts), params, recorded(table), rows, tuple(warnings))


def recorded(table: pa.Table) -> frozenset[str]:
    """The runs rows of schema 2 name, as text (ledger.recorded_runs: a row without one names "None")."""
    two = pc.equal(table["schema"], 2)
    if "run" not in table.column_names:
        return frozenset({"None"}) if pc.any(two).as_py() else frozenset()
    runs = table["run"] if pc.all(two).as_py() else table["run"].filter(two)  # all, as the record writes
    return frozenset("None" if r is None else r for r in pc.unique(runs).to_pylist())


def occurrences(data: bytes, text: bytes) -> Iterator[int]:
    """Where ``text`` starts in ``data``, in order."""
    i = data.find(text)
    while i >= 0:
        yield i
        i = data.find(text, i + len(text))


def columns(data: bytes) -> pa.Table | None:
    """The lines as one table (pyarrow's inference, the fields of TEXT as text), or None if it refuses them."""
    schema = pa.schema([(f, pa.string()) for f in TEXT])
    try:
        return pj.read_json(pa.BufferReader(data), read_options=READ, parse_options=pj.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="infer"))
    except (pa.ArrowException, ValueError):  # a line it cannot read, a type that changes: read line by line
        return None


def faithful(table: pa.Table) -> bool:
    """Whether every row has a schema and metrics, is not a run row, and no float is one orjson refuses."""
    names = table.column_names
    if "schema" not in names or table["schema"].null_count or "metrics" not in names:
        return False
    metrics = table["metrics"]
    if metrics.null_count or not pa.types.is_struct(metrics.type):
        return False
    if "kind" in names and pc.any(pc.equal(table["kind"], "run")).as_py():
        return False
    return all(plain(array) for array in floats(table))


def floats(table: pa.Table) -> Iterator[pa.ChunkedArray]:
    """Every float column of the table, nested ones and lists' values included."""
    todo = [table[n] for n in table.column_names]
    while todo:
        col = todo.pop()
        if pa.types.is_float64(col.type):
            yield col
        elif pa.types.is_struct(col.type):
            todo += [pa.chunked_array([c.field(i) for c in col.chunks], col.type.field(i).type)
                     for i in range(col.type.num_fields)]
        elif pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
            todo.append(pa.chunked_array([c.flatten() for c in col.chunks], col.type.value_type))


def plain(col: pa.ChunkedArray) -> bool:
    """Whether a float column holds only what orjson reads as pyarrow does: finite, and not a 64-bit-
    overflowing integer (orjson refuses those, or keeps them as integers)."""
    if col.null_count == len(col):
        return True
    return not (pc.any(pc.invert(pc.is_finite(col))).as_py() or pc.max(pc.abs(col)).as_py() >= 2.0**63)


def to_parts(table: pa.Table, numbers: list[int], text: bytes) -> Parts | None:
    """The frames :func:`slashmake.experiments.ledger.step_frame` makes of the same rows (``text``),
    or None where a field holds lists, objects or times, or only nulls (pandas types a column of
    nulls by whether the key was written, and pyarrow cannot tell)."""
    n = table.num_rows
    names = set(table.column_names)
    top = {}
    for field in TOP:
        col = table[field] if field in names else None
        if col is None or (col.null_count == n and f'"{field}"'.encode() not in text):
            top[field] = pd.Series(float("nan"), index=range(n))  # written by no row: as pandas' missing key
        elif col.null_count == n or not scalar_type(col.type):
            return None
        else:
            top[field] = col.to_pandas()
    base = pd.DataFrame(top, columns=list(TOP))
    base.insert(0, "line", numbers)
    frames = {}
    for field, prefix in NESTED.items():
        col = table[field] if field in names else None
        if col is None or col.null_count == n or (pa.types.is_struct(col.type) and col.type.num_fields == 0):
            frames[field] = pd.DataFrame(index=range(n))  # as ledger.nested: no object, or empty ones
            continue
        if not pa.types.is_struct(col.type) or not all(scalar_type(f.type) and not pa.types.is_null(f.type)
                                                        for f in col.type):
            return None
        flat = table.select([field]).flatten().to_pandas()
        flat.columns = [prefix + c[len(field) + 1:] for c in flat.columns]
        frames[field] = flat
    return Parts(base, frames["cost"], frames["git"], frames["metrics"], frames["params"], frames["upstream"])


def scalar_type(t: pa.DataType) -> bool:
    """A type whose values a pandas column holds as the line-by-line read makes them."""
    return any(test(t) for test in SCALAR)
