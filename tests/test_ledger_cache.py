"""The kept ledger frames (.slashmake/ledger/): every read through them equals a fresh read.

Random ledgers of every kind of row (the run record's step and run rows, a job's evaluation rows, an
agent's cost rows, the oldest rows with their numbers at the top level, malformed lines) are written
a piece at a time, cut at any byte, and after each piece the cached read must give exactly the
frames and warnings that :func:`slashmake.experiments.ledger.load` gives reading it all afresh.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from slashmake.experiments import ledger, ledger_arrow, ledger_cache

LED = Path("results/ledger.jsonl")


def random_line(rng: random.Random, i: int, runs: list[str]) -> str:
    """One ledger line: mostly the run record's rows, some older ones, a few malformed."""
    run = rng.choice(runs)
    step = rng.choice(["train", "ml-evaluate", "prep"])
    metrics: dict[str, Any] = {"acc": rng.choice([0.5, 0.75, 1, rng.random()])}
    for name, value in (("loss", rng.choice([None, 0.25, 2])), ("flag", rng.choice([True, False])),
                        ("label", rng.choice(["a", "b", None])), ("cost_usd", 0.01)):
        if rng.random() < 0.3:
            metrics[name] = value
    kind = rng.choices(["step", "run", "evaluation", "agent", "oldest", "bad"], [8, 2, 2, 1, 1, 1])[0]
    if kind == "bad":
        return rng.choice(['{"truncated": ', "[1, 2]", "", "   ", '"just text"', "{'single': 1}"])
    if kind == "evaluation":  # a job's own row; the same metrics as a record row, sometimes
        row: dict[str, Any] = {"time": "t", "unix_time": float(i), "step": rng.choice([step, "/" + step]),
                               "metrics": rng.choice([metrics, {"acc": 0.5}]), "model": "m.pt"}
    elif kind == "agent":
        row = {"time": "t", "step": step, "kind": "agent", "run": run, "metrics": {"answered": True, "cost_usd": 0.01}}
    elif kind == "oldest":
        row = {"time": "t", "step": step, "accuracy": rng.random(), "epochs": 3}
    elif kind == "run":
        row = {"schema": 2, "kind": "run", "run": run, "chain": "/c", "status": rng.choice(["ok", "failed"]),
               "time": "t", "unix_time": float(i), "git": {"commit": "abc", "dirty": rng.choice([False, None])},
               "cost": {"agent_usd": 0.0, "pod_usd": 0.01}, "headline": {"metric": "acc", "value": 0.8}}
        if rng.random() < 0.5:
            row["n_steps"] = rng.randint(1, 9)
    else:
        params: dict[str, Any] = {"sigma": rng.choice([0.0, 0.1, 1]), "seed": rng.randint(1, 3)}
        for name, value in (("lr", rng.choice([1e-3, 3])), ("tags", ["x", "y"]), ("note", rng.choice(["n", None]))):
            if rng.random() < 0.3:
                params[name] = value
        upstream = {k: v for k, v in (("prep.n", rng.randint(1, 2)), ("sigma", 9.0), ("init.seed", 17))
                    if rng.random() < 0.4}
        row = {"schema": 2, "kind": "step", "run": run, "chain": "/c", "step": step, "rule": step,
               "key": f"{step}-{rng.randint(0, 3)}", "variant": rng.choice([None, "v1", "v2"]), "params": params,
               "upstream": upstream, "metrics": metrics, "primary": rng.choice(["acc", None]),
               "reused": rng.random() < 0.1, "time": "t", "unix_time": float(i), "duration_s": rng.random(),
               "executor": "local", "host": "h", "git": {"commit": "abc", "dirty": False}}
        if rng.random() < 0.9:
            row["cost"] = {"agent_usd": 0.0, "pod_usd": rng.choice([0.0, 0.5])}
    return json.dumps(row, separators=rng.choice([(", ", ": "), (",", ":")]))


def same(root: Path, step: str | None) -> ledger.Ledger:
    """The cached read, checked against a fresh read of the whole ledger (warnings included)."""
    told: list[str] = []
    got = ledger_cache.load(root, warn=told.append, step=step)
    want = ledger.load(root, step=step)
    pd.testing.assert_frame_equal(got.steps, want.steps, check_exact=True)
    pd.testing.assert_frame_equal(got.runs, want.runs, check_exact=True)
    assert got.warnings == want.warnings and tuple(told) == want.warnings
    return got


@pytest.fixture(params=["small", "large"])
def arrow_from(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Each ledger read as a small one (line by line) and as a large one (pyarrow's reader first)."""
    limit = ledger_cache.ARROW_FROM if request.param == "small" else 0
    monkeypatch.setattr(ledger_cache, "ARROW_FROM", limit)
    return limit


@pytest.mark.parametrize("seed", range(8))
def test_every_cached_read_equals_a_fresh_read(tmp_path: Path, seed: int, arrow_from: int) -> None:
    rng = random.Random(seed)
    runs = [f"run-{k}" for k in range(4)]
    text = "".join(random_line(rng, i, runs) + "\n" for i in range(rng.randint(5, 60)))
    if rng.random() < 0.3:
        text += '{"step": "train", "metr'  # an unfinished last line
    (tmp_path / "results").mkdir()
    cuts = sorted(rng.sample(range(1, len(text)), min(4, len(text) - 1))) + [len(text)]
    start = 0
    for cut in cuts:  # appended a piece at a time, cut anywhere (mid-line too)
        with open(tmp_path / LED, "a") as fh:
            fh.write(text[start:cut])
        start = cut
        for step in (None, "train"):
            same(tmp_path, step)
    same(tmp_path, "train")  # and again, from the kept frames alone


def test_appends_of_the_same_shape_parse_only_the_new_lines(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(1)
    (tmp_path / "results").mkdir()
    built: list[int] = []
    real = ledger_cache.build
    monkeypatch.setattr(ledger_cache, "build", lambda data, *a: built.append(len(data)) or real(data, *a))

    def rows(n: int, first: int) -> str:
        out = []
        for i in range(first, first + n):
            run = f"run-{i // 5}"
            out.append(json.dumps({"schema": 2, "kind": "step", "run": run, "step": "train", "rule": "train",
                                   "key": f"k{i}", "variant": f"seed-{i % 3}",
                                   "params": {"sigma": rng.choice([0.0, 0.1]), "seed": i % 3},
                                   "upstream": {"init.n": 2}, "metrics": {"acc": rng.random()}, "primary": "acc",
                                   "reused": False, "cost": {"agent_usd": 0.0, "pod_usd": 0.0},
                                   "git": {"commit": "c", "dirty": False}, "time": "t", "unix_time": float(i)}))
            if i % 5 == 4:
                out.append(json.dumps({"schema": 2, "kind": "run", "run": run, "status": "ok", "n_steps": 5,
                                       "git": {"commit": "c", "dirty": False}}))
        return "".join(line + "\n" for line in out)

    (tmp_path / LED).write_text(rows(20, 0) + "{torn\n")
    same(tmp_path, "train")
    same(tmp_path, None)
    for first in (20, 30, 40):
        with open(tmp_path / LED, "a") as fh:
            fh.write(rows(10, first))
        [torn] = same(tmp_path, "train").warnings  # still told, from the kept frames' warnings
        assert torn.startswith("ledger.jsonl:25: skipped a malformed ledger line: not JSON (")
        same(tmp_path, None)
    assert len(built) == 2  # the first read of each filter; every later one appended
    assert len(list((tmp_path / ledger_cache.FOLDER).glob("*.pickle"))) == 2


def test_a_rewritten_or_damaged_ledger_is_read_afresh(tmp_path: Path) -> None:
    rng = random.Random(7)
    runs = ["r1", "r2"]
    (tmp_path / "results").mkdir()
    led = tmp_path / LED
    led.write_text("".join(random_line(rng, i, runs) + "\n" for i in range(30)))
    same(tmp_path, None)
    before = led.stat()
    text = led.read_text()
    led.write_text(text.replace('"acc": 0.5', '"acc": 0.6'))  # the same size, same inode, other values
    os.utime(led, ns=(before.st_atime_ns, before.st_mtime_ns))  # even the same mtime
    same(tmp_path, None)
    led.write_text(text[: len(text) // 2].rsplit("\n", 1)[0] + "\n")  # shortened
    same(tmp_path, None)
    for kept in (tmp_path / ledger_cache.FOLDER).glob("*.pickle"):
        kept.write_bytes(kept.read_bytes()[:100])  # a damaged file is passed over
    same(tmp_path, None)
    led.unlink()  # a new ledger (another inode) that starts with other rows
    led.write_text("".join(random_line(rng, i, runs) + "\n" for i in range(40)))
    same(tmp_path, None)


def test_a_project_where_nothing_can_be_kept_still_reads(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    (tmp_path / LED).write_text(random_line(random.Random(3), 0, ["r"]) + "\n")
    (tmp_path / ".slashmake").mkdir()
    (tmp_path / ledger_cache.FOLDER).write_text("a file where the folder would be")  # fails even for root
    same(tmp_path, None)
    same(tmp_path, None)
    assert (tmp_path / ledger_cache.FOLDER).read_text() == "a file where the folder would be"


def test_compare_without_plots_imports_neither_scipy_nor_matplotlib(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    rng = random.Random(5)
    (tmp_path / LED).write_text("".join(random_line(rng, i, ["r1", "r2"]) + "\n" for i in range(40)))
    code = ("import sys; from pathlib import Path; from slashmake import api; "
            "api.compare(Path(sys.argv[1]), 'train', draw=False, warn=lambda _w: None); "
            "print(sorted(m for m in ('scipy', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stderr


def record_line(rng: random.Random, i: int, runs: list[str]) -> str:
    """A line the run record writes: step and run rows whose values vary in every way a column can
    (ints and floats mixed, keys present or not, nulls, odd floats and text), and a few malformed."""
    run = rng.choice(runs)
    if rng.random() < 0.05:
        return rng.choice(['{"truncated": ', "", "[1, 2]", '"text"'])
    if rng.random() < 0.15:
        return json.dumps({"schema": 2, "kind": "run", "run": run, "chain": "/c", "status": "ok", "duration_s": 3,
                           "git": {"commit": "abc", "dirty": False}, "cost": {"agent_usd": 0, "pod_usd": 0.5}})
    number = rng.choice([0.1, 1, -0.0, 5e-324, 2.2250738585072014e-308, rng.random() * 10 ** rng.randint(-30, 18)])
    params: dict[str, Any] = {"sigma": rng.choice([0.0, 0.1, 1]), "seed": rng.randint(1, 3)}
    for name, value in (("lr", rng.choice([1e-3, 3])), ("note", rng.choice(["é \"q\" \\n", None])),
                        ("on", rng.choice([True, False]))):
        if rng.random() < 0.4:
            params[name] = value
    metrics = {"acc": number, "loss": rng.choice([0.25, 2, None]), "label": rng.choice(["a", None])}
    row: dict[str, Any] = {"schema": 2, "kind": "step", "run": run, "chain": "/c", "step": rng.choice(["train", "ev"]),
                           "key": f"k{rng.randint(0, 3)}", "variant": rng.choice([None, "v1"]), "params": params,
                           "upstream": {"prep.n": rng.randint(1, 2)} if rng.random() < 0.5 else {},
                           "metrics": metrics, "primary": "acc", "reused": rng.random() < 0.1,
                           "duration_s": rng.choice([1, 0.5]), "executor": "local", "time": "2026-12-03T10:00:00",
                           "unix_time": float(i), "git": {"commit": "abc", "dirty": rng.choice([False, None])}}
    if rng.random() < 0.8:
        row["cost"] = {"agent_usd": 0.0, "pod_usd": rng.choice([0.0, 0.5])}
    if rng.random() < 0.3:
        row["predictions"] = "results/ev/predictions.csv"
    return json.dumps(row, separators=rng.choice([(", ", ": "), (",", ":")]))


@pytest.mark.parametrize("seed", range(12))
def test_a_large_ledger_of_the_run_record_is_read_by_pyarrow_as_line_by_line(
        tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """pyarrow's reader gives the line-by-line frames, warnings and kept state, and is used for them."""
    monkeypatch.setattr(ledger_cache, "ARROW_FROM", 0)
    taken: list[bool] = []
    real = ledger_arrow.read
    monkeypatch.setattr(ledger_arrow, "read", lambda *a: taken.append((got := real(*a)) is not None) or got)
    rng = random.Random(seed)
    (tmp_path / "results").mkdir()
    runs = [f"run-{k}" for k in range(5)]
    (tmp_path / LED).write_text("".join(record_line(rng, i, runs) + "\n" for i in range(rng.randint(20, 80))))
    for step in (None, "train", "ev"):
        same(tmp_path, step)
        with open(tmp_path / LED, "a") as fh:  # then appended: the kept state goes on from pyarrow's
            fh.write("".join(record_line(rng, i, runs) + "\n" for i in range(5)))
        same(tmp_path, step)
    assert taken.count(True) >= 2, taken  # not a test of the fallback alone


ODD = {
    "NaN, which orjson refuses": '"metrics": {"acc": NaN}',
    "an integer past 64 bits": '"metrics": {"acc": 18446744073709551616}',
    "an integer past int64": '"metrics": {"acc": 9223372036854775808}',
    "a float as large (a cheap check cannot tell them apart)": '"metrics": {"acc": 1.7976931348623157e308}',
    "a parameter that looks like a time": '"params": {"at": "2026-12-03T10:00:00"}, "metrics": {"acc": 1}',
    "a list in the parameters": '"params": {"tags": ["x"]}, "metrics": {"acc": 1}',
    "a row without schema": '"metrics": {"acc": 1}, "schema": null',
    "a run row spaced otherwise": '"kind":  "run", "metrics": {}',
    "a step row holding a run row's text": '"params": {"kind": "run"}, "metrics": {"acc": 1}',
    "a variant null in every row": '"variant": null, "metrics": {"acc": 1}',
    "the same key twice": '"metrics": {"acc": 1, "acc": 2}',
    "a line cut short inside its braces": '"metrics": {"acc": 1',
}


@pytest.mark.parametrize("odd", ODD.values(), ids=ODD.keys())
def test_a_ledger_pyarrow_could_read_otherwise_is_read_line_by_line(tmp_path: Path, odd: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger_cache, "ARROW_FROM", 0)
    plain = '{"schema": 2, "kind": "step", "run": "r", "step": "train", "metrics": {"acc": 0.5}}'
    lines = [plain, '{"schema": 2, "kind": "step", "run": "r", "step": "train", ' + odd + "}", plain]
    if "variant" in odd:  # null in every row
        lines = [line[:-1] + ', "variant": null}' if "variant" not in line else line for line in lines]
    data = "".join(line + "\n" for line in lines).encode()
    (tmp_path / "results").mkdir()
    (tmp_path / LED).write_bytes(data)
    assert ledger_arrow.read(data, "ledger.jsonl", ()) is None
    assert ledger_arrow.read(b"".join(line.encode() + b"\n" for line in (plain, plain)), "l", ()) is not None
    same(tmp_path, None)
    same(tmp_path, "train")
