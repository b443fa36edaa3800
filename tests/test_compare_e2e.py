"""Issue 20's acceptance on the real ML pipeline: the sweep compared over seeds, two runs of
/ml-pipeline-full compared with a paired interval, and the report's front page in headless Chromium.

They read the session's shared project (tests/ml_project.py ``build_shared``: a git repository, so
runs record a commit), where /ml-pipeline-full ran, then /runpod-hpo-parallel with the smallest
budgets, then /ml-pipeline-full again with one parameter changed, each pipeline run with --report,
and then once more with the parameter set back. Every figure is recomputed here from the steps'
own files.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import statistics
import subprocess
from html import unescape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from ml_project import MLProject
from scipy import stats as scipy_stats

#: These tests share tests/test_pipeline_e2e.py's project and worker; collected first, they run
#: before its tests add runs to the ledger.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ml-shared-project")]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def run_id(proc: subprocess.CompletedProcess[str]) -> str:
    m = re.search(r"^run: (\S+)", proc.stdout, re.M)
    assert m, proc.stdout
    return m.group(1)


@pytest.fixture
def ml(ml_shared: MLProject) -> MLProject:
    """The session's shared project after its four runs."""
    return ml_shared


def ledger(ml: MLProject) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (ml.root / "results/ledger.jsonl").read_text().splitlines()]


def test_sweep_compare_gives_one_row_per_sigma_with_three_seeds(ml: MLProject) -> None:
    out = json.loads(ml.slashmake("compare", "--step", "train", "--json").stdout)
    table = out["table"]
    assert table["varying"] == ["sigma"] and table["metrics"] == ["val_accuracy"]
    per_sigma: dict[float, list[float]] = {}
    for path in ml.root.glob("results/steps/train-*/*/metrics.json"):
        m = json.loads(path.read_text())
        per_sigma.setdefault(float(m["sigma"]), []).append(m["val_accuracy"])
    assert sorted(per_sigma) == [0.0, 0.1, 0.2] and all(len(v) == 3 for v in per_sigma.values())
    assert len(table["groups"]) == 3
    for g in table["groups"]:
        values = per_sigma[g["params"]["sigma"]]
        s = g["metrics"]["val_accuracy"]
        mean, sd = statistics.mean(values), statistics.stdev(values)
        half = scipy_stats.t.ppf(0.975, 2) * sd / math.sqrt(3)
        assert s["n"] == 3 and s["mean"] == pytest.approx(mean) and s["sd"] == pytest.approx(sd)
        assert (s["lo"], s["hi"]) == pytest.approx((mean - half, mean + half))
    plot = ml.root / "results/compare/train-val_accuracy-vs-sigma"
    assert plot.with_suffix(".png").exists() and plot.with_suffix(".svg").exists()
    assert sorted(p["x"] for p in json.loads(plot.with_suffix(".json").read_text())["points"]) == [0.0, 0.1, 0.2]
    means = re.search(r'<g id="means">(.*?)</g>', plot.with_suffix(".svg").read_text(), re.S)
    assert means and means.group(1).count("<use") == 3


def test_each_step_row_carries_the_record(ml: MLProject) -> None:
    hpo = run_id(ml.hpo)
    rows = [r for r in ledger(ml) if r.get("kind") == "step" and r["run"] == hpo]
    train = [r for r in rows if r["step"] == "train"]
    assert len(train) == 9 and {r["params"]["seed"] for r in train} == {1, 2, 3}
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ml.root, capture_output=True, text=True).stdout.strip()
    assert {r["git"]["commit"] for r in rows} == {commit}
    [ev] = [r for r in rows if r["step"] == "ml-evaluate"]
    # upstream parameters: the selection, the sweep's fixed ones, the data's
    assert "train.steps" in ev["upstream"] and any(k.startswith("init.") for k in ev["upstream"])
    assert ev["data_digest"].startswith("sha256:") and ev["duration_s"] > 0 and ev["predictions"]


def test_runs_lists_the_four_runs_headed_by_the_gated_metric(ml: MLProject) -> None:
    listed = json.loads(ml.slashmake("runs", "--json").stdout)
    assert [r["run"] for r in listed] == [run_id(p) for p in (ml.first, ml.hpo, ml.second, ml.restored)]
    for r in (listed[0], listed[2]):
        [ev, *_] = [x for x in ledger(ml) if x.get("kind") == "step" and x["run"] == r["run"] and x["step"] == "ml-evaluate"]
        assert r["status"] == "ok" and r["metric"] == "accuracy" and r["value"] == ev["metrics"]["accuracy"]
    # The config changed for the second pipeline run only: set back, the tree is the commit again.
    assert [r["dirty"] for r in listed] == [False, False, True, False]
    assert listed[3]["status"] == "ok"


def test_compare_two_pipeline_runs_names_the_parameter_and_pairs_accuracy(ml: MLProject) -> None:
    a, b = run_id(ml.first), run_id(ml.second)
    text = ml.slashmake("compare", a, b).stdout
    assert "ml-train.weight_decay" in text and "paired bootstrap" in text
    diff = json.loads(ml.slashmake("compare", a, b, "--json").stdout)["diff"]
    assert diff["params"]["ml-train.weight_decay"] == [0.01, 0.02]
    assert all(k.endswith("weight_decay") for k in diff["params"])
    [ev] = [s for s in diff["steps"] if s["step"] == "ml-evaluate"]
    [acc] = [m for m in ev["metrics"] if m["metric"] == "accuracy"]
    rows = {r["run"]: r for r in ledger(ml) if r.get("kind") == "step" and r["step"] == "ml-evaluate"
            and r["run"] in (a, b)}
    pa, pb = (pd.read_csv(ml.root / rows[r]["predictions"]) for r in (a, b))
    assert (pa["label"] == pb["label"]).all() and len(pa) == 600
    assert pa["correct"].mean() == pytest.approx(rows[a]["metrics"]["accuracy"])
    ca, cb = pa["correct"].to_numpy(float), pb["correct"].to_numpy(float)
    rng = np.random.default_rng(7)
    boots = np.array([(cb[i] - ca[i]).mean() for i in rng.integers(0, len(ca), size=(3000, len(ca)))])
    lo, hi = np.percentile(boots, [2.5, 97.5])
    assert acc["diff"] == pytest.approx(cb.mean() - ca.mean())
    assert acc["paired"]["lo"] == pytest.approx(lo, abs=0.006) and acc["paired"]["hi"] == pytest.approx(hi, abs=0.006)


def visible_text(html: str) -> str:
    """What a reader sees: the DOM without scripts and styles, tags stripped."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S | re.I)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_report_front_page_in_headless_chromium(ml: MLProject, tmp_path: Path) -> None:
    argv = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000"]
    for report, proc in (("report1.html", ml.first), ("report2.html", ml.second)):
        dom = subprocess.run([*argv, "--dump-dom", f"file://{ml.root / report}"], capture_output=True, text=True,
                             timeout=120).stdout
        seen = visible_text(dom)
        rid = run_id(proc)
        assert f"Run {rid}" in seen, seen[:2000]
        rows = [r for r in ledger(ml) if r.get("kind") == "step" and r["run"] == rid]
        ev = [r for r in rows if r["step"] == "ml-evaluate"][-1]
        assert f"{ev['metrics']['accuracy']:.4f}" in seen
        gate = [r for r in ledger(ml) if r.get("kind") == "step" and r["run"] == rid and r["step"] == "ml-deploy"]
        decision = "passed" if gate else "failed"
        assert "accuracy > 0.87" in seen
        assert decision in seen
        if gate:
            assert re.search(rf"Deployed version\s*:\s*{gate[-1]['metrics']['version']}\b", seen), seen[:3000]
        else:
            assert "nothing was deployed by this run" in seen
    assert "Against run" in seen and "weight_decay" in seen  # report 2 compares with run 1
    shot = tmp_path / "front.png"
    subprocess.run([*argv, "--window-size=1280,1000", f"--screenshot={shot}", f"file://{ml.root / 'report1.html'}"],
                   capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 20_000
