"""The run record and `slashmake runs` / `slashmake compare`, through the CLI and the MCP client.

A toy project whose one command scores a "model" from its parameters (a seeded coin per test
example, so results vary over seeds) runs a sigma × seed sweep and two single runs through real
Snakemake, once for the whole module. Every figure compare prints is recomputed here from the
step's own metrics and predictions files, not from the ledger.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import statistics
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
import yaml
from conftest import ToyProject
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult, TextContent
from scipy import stats as scipy_stats

#: One worker runs the module's project once (a toy sweep over seeds, then more runs) for every test.
pytestmark = pytest.mark.xdist_group("compare-toy")

SCORER = '''
import argparse, json, random
p = argparse.ArgumentParser()
p.add_argument("--sigma", type=float); p.add_argument("--seed", type=int); p.add_argument("--bias", type=float)
p.add_argument("--metrics"); p.add_argument("--predictions")
a = p.parse_args()
labels = random.Random(0).choices([0, 1], k=300)       # one test set for every run
rng = random.Random(a.seed * 1000 + round(a.sigma * 100))
skill = 0.6 + a.sigma + a.bias                          # sigma helps; the seed adds noise
rows = []
for i, y in enumerate(labels):
    ok = rng.random() < skill
    rows.append((i, y, y if ok else 1 - y, int(ok)))
with open(a.predictions, "w") as fh:
    fh.write("index,label,pred,correct\\n")
    fh.writelines(f"{i},{y},{q},{c}\\n" for i, y, q, c in rows)
json.dump({"accuracy": sum(r[3] for r in rows) / len(rows), "sigma": a.sigma}, open(a.metrics, "w"))
'''

SWEEP = "/score --parameters sigma:0.0,0.1,0.2;seed:1,2,3"


@pytest.fixture(scope="module")
def proj(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToyProject]:
    root = tmp_path_factory.mktemp("compare") / "proj"
    root.mkdir()
    toy = ToyProject(root)
    (toy.root / "scorer.py").write_text(SCORER)
    front = {"description": "score a toy model", "slashmake": {
        "params": {"sigma": 0.1, "seed": 1, "bias": 0.0}, "output": {"predictions": "predictions.csv"},
        "metrics": {"file": "metrics.json", "keys": ["accuracy", "sigma"], "primary": "accuracy"},
        "shell": "python scorer.py --sigma {params.sigma} --seed {params.seed} --bias {params.bias} "
                 "--metrics {output.metrics} --predictions {output.predictions}"}}
    (toy.root / "workflow/commands/score.md").write_text(f"---\n{yaml.safe_dump(front)}---\nScore.\n")
    toy.sweep = toy.slashmake("run", SWEEP)  # type: ignore[attr-defined]
    toy.single_a = toy.slashmake("run", "/score --sigma 0.1 --seed 4")  # type: ignore[attr-defined]
    toy.single_b = toy.slashmake("run", "/score --sigma 0.1 --seed 4 --bias 0.1")  # type: ignore[attr-defined]
    yield toy


def run_id(proc: Any) -> str:
    m = re.search(r"^run: (\S+)", proc.stdout, re.M)
    assert m, proc.stdout
    return m.group(1)


def variant_metrics(root: Path) -> dict[float, list[float]]:
    """Per sigma, the accuracy of each seed, from the sweep's own metrics files."""
    out: dict[float, list[float]] = {}
    for path in root.glob("results/steps/score-*/*/metrics.json"):
        m = json.loads(path.read_text())
        out.setdefault(m["sigma"], []).append(m["accuracy"])
    return out


def test_every_run_gets_an_id_and_a_full_record(proj: ToyProject) -> None:
    rows = [json.loads(line) for line in (proj.root / "results/ledger.jsonl").read_text().splitlines()]
    sweep = run_id(proj.sweep)  # type: ignore[attr-defined]
    steps = [r for r in rows if r.get("kind") == "step" and r["run"] == sweep]
    assert len(steps) == 9 and {r["schema"] for r in steps} == {2}
    one = steps[0]
    assert one["chain"] == SWEEP and one["step"] == "score" and one["variant"]
    assert set(one["params"]) >= {"sigma", "seed", "bias"} and one["executor"] == "local" and one["host"]
    assert one["data_digest"] is None or one["data_digest"].startswith("sha256:")
    assert one["duration_s"] is not None and one["duration_s"] >= 0 and one["reused"] is False
    assert set(one["git"]) == {"commit", "dirty"} and one["cost"] == {"agent_usd": 0.0, "pod_usd": 0.0}
    assert one["predictions"].endswith("predictions.csv") and "accuracy" in one["metrics"]
    [run] = [r for r in rows if r.get("kind") == "run" and r["run"] == sweep]
    assert run["status"] == "ok" and run["n_steps"] == 9 and run["n_ran"] == 9


def test_runs_lists_each_run_with_its_headline(proj: ToyProject) -> None:
    listed = json.loads(proj.slashmake("runs", "--json").stdout)
    ids = [r["run"] for r in listed]
    assert ids == [run_id(proj.sweep), run_id(proj.single_a), run_id(proj.single_b)]  # type: ignore[attr-defined]
    rows = [json.loads(line) for line in (proj.root / "results/ledger.jsonl").read_text().splitlines()]
    [key] = {r["key"] for r in rows if r.get("kind") == "step" and r["run"] == ids[1]}
    single = json.loads((proj.root / "results/steps" / key / "metrics.json").read_text())
    assert all(r["status"] == "ok" for r in listed)
    assert listed[1]["metric"] == "accuracy" and listed[1]["value"] == single["accuracy"]
    text = proj.slashmake("runs").stdout
    assert text.splitlines()[0].split()[:4] == ["run", "time", "chain", "status"] and ids[0] in text


def test_compare_groups_seeds_per_sigma_matching_a_recomputation(proj: ToyProject) -> None:
    out = json.loads(proj.slashmake("compare", "--step", "score", "--where", f"run=={run_id(proj.sweep)}",  # type: ignore[attr-defined]
                                    "--json").stdout)
    table = out["table"]
    assert table["varying"] == ["sigma"] and "seed" not in table["group_by"]
    truth = variant_metrics(proj.root)
    assert len(table["groups"]) == 3
    for g in table["groups"]:
        values = truth[g["params"]["sigma"]]
        s = g["metrics"]["accuracy"]
        mean, sd = statistics.mean(values), statistics.stdev(values)
        half = scipy_stats.t.ppf(0.975, len(values) - 1) * sd / math.sqrt(len(values))
        assert s["n"] == 3 == len(values)
        assert s["mean"] == pytest.approx(mean) and s["sd"] == pytest.approx(sd)
        assert (s["lo"], s["hi"]) == pytest.approx((mean - half, mean + half))
    # The error-bar plot: one point per sigma, in the picture and beside it.
    stem = proj.root / "results/compare/score-accuracy-vs-sigma"
    assert stem.with_suffix(".png").stat().st_size > 1000
    points = json.loads(stem.with_suffix(".json").read_text())["points"]
    assert [p["x"] for p in points] == [0.0, 0.1, 0.2] and [p["n"] for p in points] == [3, 3, 3]
    svg = stem.with_suffix(".svg").read_text()
    means = re.search(r'<g id="means">(.*?)</g>', svg, re.S)
    assert means and means.group(1).count("<use") == 3


def test_compare_text_and_csv(proj: ToyProject) -> None:
    text = proj.slashmake("compare", "--step", "score", "--no-plots").stdout
    assert "sigma" in text.splitlines()[1] and "±" in text
    rows = list(csv.DictReader(io.StringIO(proj.slashmake("compare", "--step", "score", "--where", "seed<4",
                                                          "--csv").stdout)))
    sweep_only = [r for r in rows if r["n"] == "3"]
    truth = variant_metrics(proj.root)
    assert {float(r["sigma"]) for r in sweep_only} == set(truth)
    for r in sweep_only:
        assert float(r["accuracy_mean"]) == pytest.approx(statistics.mean(truth[float(r["sigma"])]))


def test_compare_two_runs_names_the_change_and_pairs_the_predictions(proj: ToyProject) -> None:
    a, b = run_id(proj.single_a), run_id(proj.single_b)  # type: ignore[attr-defined]
    out = json.loads(proj.slashmake("compare", a, b, "--json").stdout)["diff"]
    assert out["params"] == {"bias": [0.0, 0.1]}
    [step] = out["steps"]
    [acc] = [m for m in step["metrics"] if m["metric"] == "accuracy"]
    rows = [json.loads(line) for line in (proj.root / "results/ledger.jsonl").read_text().splitlines()]
    pred = {r["run"]: r["predictions"] for r in rows if r.get("kind") == "step" and r["run"] in (a, b)}
    ca = np.loadtxt(proj.root / pred[a], delimiter=",", skiprows=1)[:, 3]
    cb = np.loadtxt(proj.root / pred[b], delimiter=",", skiprows=1)[:, 3]
    assert acc["diff"] == pytest.approx(cb.mean() - ca.mean())
    # Our own bootstrap, with another generator and seed: the intervals agree to sampling error.
    rng = np.random.default_rng(12345)
    idx = rng.integers(0, len(ca), size=(4000, len(ca)))
    boots = cb[idx].mean(1) - ca[idx].mean(1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    assert acc["paired"]["lo"] == pytest.approx(lo, abs=0.01) and acc["paired"]["hi"] == pytest.approx(hi, abs=0.01)
    assert 0 < acc["paired"]["p"] <= 1 and acc["paired"]["n"] == len(ca)
    text = proj.slashmake("compare", a[:22], "latest").stdout
    assert "bias" in text and "paired bootstrap" in text and "95% CI" in text


def test_compare_says_when_no_predictions_were_saved(proj: ToyProject) -> None:
    led = proj.root / "results/ledger.jsonl"
    saved = led.read_text()
    try:
        rows = [json.loads(line) for line in saved.splitlines()]
        for r in rows:
            if r.get("run") == run_id(proj.single_b):  # type: ignore[attr-defined]
                r["predictions"] = None
        led.write_text("".join(json.dumps(r) + "\n" for r in rows))
        text = proj.slashmake("compare", run_id(proj.single_a), run_id(proj.single_b)).stdout  # type: ignore[attr-defined]
        assert "no per-example predictions saved for run B" in text
    finally:
        led.write_text(saved)


def test_a_malformed_line_is_skipped_with_its_line_number(proj: ToyProject) -> None:
    led = proj.root / "results/ledger.jsonl"
    saved = led.read_text()
    try:
        led.write_text(saved + '{"time": "2026-12-03T10:00:00", "step": "sco\n[1, 2]\n')
        n = len(saved.splitlines())
        for args in (["results"], ["runs"], ["compare", "--step", "score", "--no-plots"]):
            r = proj.slashmake(*args)
            assert f"ledger.jsonl:{n + 1}: skipped a malformed ledger line" in r.stderr, (args, r.stderr)
            assert f"ledger.jsonl:{n + 2}: skipped" in r.stderr and "Traceback" not in r.stderr
    finally:
        led.write_text(saved)


def test_a_ledger_written_before_the_run_record_still_reads(tmp_path: Path, toy: ToyProject) -> None:
    old = [
        {"time": "2026-11-30T10:00:00+0000", "unix_time": 1.0, "step": "ml-evaluate",
         "metrics": {"accuracy": 0.9, "f1_macro": 0.88}, "model": "/x/model.pt"},
        {"time": "2026-11-30T10:01:00+0000", "unix_time": 2.0, "step": "ml-evaluate",
         "metrics": {"accuracy": 0.92, "f1_macro": 0.9}, "model": "/y/model.pt"},
        {"time": "2026-11-30T10:02:00+0000", "unix_time": 3.0, "step": "review", "kind": "agent", "run": "r1",
         "metrics": {"answered": True, "cost_usd": 0.01}},
    ]
    (toy.root / "results").mkdir()
    (toy.root / "results/ledger.jsonl").write_text("".join(json.dumps(r) + "\n" for r in old))
    table = toy.slashmake("results").stdout
    assert "0.9200" in table and "review" in table
    out = json.loads(toy.slashmake("compare", "--step", "ml-evaluate", "--json").stdout)["table"]
    [group] = out["groups"]
    assert group["metrics"]["accuracy"]["n"] == 2 and group["metrics"]["accuracy"]["mean"] == pytest.approx(0.91)
    assert json.loads(toy.slashmake("runs", "--json").stdout) == []


def test_where_and_group_by_errors_are_positioned_user_errors(proj: ToyProject) -> None:
    bad = proj.slashmake("compare", "--where", "sigma ~ 3", check=False)
    assert bad.returncode == 2 and "NAME OP VALUE" in bad.stderr and "Traceback" not in bad.stderr
    unknown = proj.slashmake("compare", "--group-by", "nope", check=False)
    assert unknown.returncode == 2 and "'nope'" in unknown.stderr
    nope = proj.slashmake("compare", "zzz", "latest", check=False)
    assert nope.returncode == 2 and "no run 'zzz'" in nope.stderr


def _text(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


def _data(result: CallToolResult) -> Any:
    assert not result.is_error, _text(result)
    return result.structured_content.get("result", result.structured_content) if result.structured_content \
        else json.loads(_text(result))


def test_mcp_runs_and_compare_tools(proj: ToyProject) -> None:
    params = StdioServerParameters(command=sys.executable, args=["-m", "slashmake.interfaces.cli", "mcp"],
                                   cwd=proj.root, env=proj.env())

    async def go() -> None:
        async with Client(params, read_timeout_seconds=300) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            assert {"runs", "compare"} <= tools
            listed = _data(await client.call_tool("runs", {}))["runs"]
            assert [r["run"] for r in listed][-1] == run_id(proj.single_b)  # type: ignore[attr-defined]
            grouped = _data(await client.call_tool("compare", {"step": "score", "where": ["seed<4"]}))["table"]
            truth = variant_metrics(proj.root)
            assert {g["params"]["sigma"]: g["metrics"]["accuracy"]["n"] for g in grouped["groups"]} == \
                {s: 3 for s in truth}
            diff = _data(await client.call_tool("compare", {"runs": ["latest~1", "latest"]}))["diff"]
            assert diff["params"] == {"bias": [0.0, 0.1]}
            bad = await client.call_tool("compare", {"where": ["sigma ~ 1"]})
            assert bad.is_error and "NAME OP VALUE" in _text(bad)
            # A torn line (issue 17, defect 13): the results tool skips it and names it in its warnings.
            led = proj.root / "results/ledger.jsonl"
            saved = led.read_text()
            led.write_text(saved + '{"step": "score", "metr\n')
            try:
                res = _data(await client.call_tool("results", {"step": "score"}))
                assert res["total"] >= 11 and len(res["warnings"]) == 1
                assert res["warnings"][0].startswith(f"ledger.jsonl:{len(saved.splitlines()) + 1}: skipped a "
                                                     "malformed ledger line: not JSON")
            finally:
                led.write_text(saved)
            run = _data(await client.call_tool("run", {"chain": "/score --sigma 0.2 --seed 9"}))
            assert run["run_id"] and run["run_id"] in {r["run"] for r in _data(await client.call_tool("runs", {}))["runs"]}

    env_before = dict(os.environ)
    anyio.run(go)
    assert dict(os.environ) == env_before


def test_the_intervals_against_independent_formulas() -> None:
    from slashmake.experiments.stats import paired_bootstrap, summarize

    values = [0.81, 0.86, 0.84, 0.9]
    s = summarize(values)
    half = scipy_stats.t.ppf(0.975, 3) * statistics.stdev(values) / 2
    assert (s.n, s.mean, s.sd) == (4, pytest.approx(statistics.mean(values)), pytest.approx(statistics.stdev(values)))
    assert (s.lo, s.hi) == pytest.approx((s.mean - half, s.mean + half))
    assert summarize([0.5]).sd is None and summarize([]).n == 0
    same = np.array([1, 0, 1, 1, 0] * 40, dtype=float)
    tie = paired_bootstrap(same, same)
    assert (tie.diff, tie.lo, tie.hi, tie.p) == (0.0, 0.0, 0.0, 1.0)
    better = same.copy()
    better[same == 0] = 1  # B right wherever A was wrong: 80 of 200 examples
    far = paired_bootstrap(same, better)
    assert far.diff == pytest.approx(0.4) and far.lo > 0.3 and far.p == pytest.approx(1 / far.samples)
    with pytest.raises(ValueError):
        paired_bootstrap(same, same[:-1])


def test_the_t_quantile_matches_scipy() -> None:
    from scipy import special

    from slashmake.experiments.stats import t_quantile

    for df in range(1, 101):  # the table: scipy's own numbers
        assert t_quantile(df) == float(special.stdtrit(df, 0.975)), df
    for df in [*range(101, 2000), 5_000, 65_432, 10**6]:  # the expansion beyond it
        assert t_quantile(df) == pytest.approx(float(special.stdtrit(df, 0.975)), rel=1e-12, abs=0), df
    with pytest.raises(ValueError):
        t_quantile(0)


def test_a_row_holds_the_upstream_parameters_and_set_variables(toy: ToyProject) -> None:
    toy.command("prep", params={"n": 5}, metrics={"rows": "5"})
    toy.command("fit", params={"k": 1}, inputs=["report"], metrics={"acc": "0.5"})
    toy.slashmake("run", "/prep --n 7 → /fit --k $k", "--set", "k=4")
    rows = [json.loads(line) for line in (toy.root / "results/ledger.jsonl").read_text().splitlines()]
    [fit] = [r for r in rows if r.get("kind") == "step" and r["step"] == "fit"]
    assert fit["params"]["k"] == 4 and fit["upstream"] == {"prep.n": 7}
    [prep] = [r for r in rows if r.get("kind") == "step" and r["step"] == "prep"]
    assert prep["inputs"] == [] and prep["data_digest"] is None and prep["upstream"] == {}
    [read] = fit["inputs"]
    assert read == f"results/steps/{prep['key']}/report.json"
    content = hashlib.sha256((toy.root / read).read_bytes()).hexdigest()
    assert fit["data_digest"] == "sha256:" + hashlib.sha256(f"{read}\0{content}".encode()).hexdigest()[:32]
    table = json.loads(toy.slashmake("compare", "--step", "fit", "--json").stdout)["table"]
    assert table["constant"] == {"k": 4, "prep.n": 7} and table["groups"][0]["metrics"]["acc"]["n"] == 1
