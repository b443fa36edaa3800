"""The Moola ML pipeline end to end: the real CLI (`python -m slashmake.interfaces.cli`), real Snakemake, real
training, on a copy of this repository's project files with tiny data (tests/ml_project.py).

The session's shared project (conftest's ``ml_shared``: /ml-pipeline-full first, then the sweep and
a second pipeline run that tests/test_compare_e2e.py compares) is read by the tests that only add
flows (steps are content-addressed, so flows share their upstream steps and a rerun is a no-op);
tests that mutate state (registry, kills, corrupt data, other data) get fresh projects.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from ml_project import MODEL, PYTHON, TINY, MLProject

pytestmark = pytest.mark.slow


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def weights_sha256(ckpt: Path, key: str = "state_dict") -> str:
    import torch

    from slashmake_ml.model import state_dict_sha256

    return state_dict_sha256(torch.load(ckpt, map_location="cpu", weights_only=True)[key])


def assert_version_complete(proj: MLProject, version: str) -> dict[str, Any]:
    """A registry version holds an export, weights and a card whose sha256s match the files."""
    d = proj.registry / version
    card = json.loads((d / "model_card.json").read_text())
    assert (d / "model.pt2").stat().st_size > 0
    assert card["version"] == version
    for name, digest in card["files"].items():
        assert sha256_file(d / name) == digest, f"{version}/{name} does not match its card"
    assert weights_sha256(d / "state_dict.pt") == card["model_sha256"]
    return card


# ------------------------------------------------------------------------------------------------
# Fixtures
# ------------------------------------------------------------------------------------------------
#: The tests of the session's shared project run on one pytest-xdist worker, in file order
#: (``--dist loadgroup``; tests/test_compare_e2e.py's come first): later flows reuse earlier flows' steps.
SHARED = pytest.mark.xdist_group("ml-shared-project")


@pytest.fixture
def shared(ml_shared: MLProject) -> MLProject:
    """The session's shared project (tests/ml_project.py ``build_shared``)."""
    return ml_shared


@pytest.fixture
def fresh(tmp_path: Path) -> MLProject:
    return MLProject(tmp_path / "proj")


# ------------------------------------------------------------------------------------------------
# 1. /ml-pipeline-full: gate passes, model lands in the registry
# ------------------------------------------------------------------------------------------------
@SHARED
def test_ml_pipeline_full_passes_gate_and_deploys_v0001(shared: MLProject) -> None:
    """Its set-up is the session's shared project (tests/ml_project.py ``build_shared``, minutes): first
    /ml-pipeline-full with real training on the default data, which must pass the gate, a torch.export
    and a DVC push; then the sweep and a second pipeline run that the later tests reuse."""
    (decision,) = shared.decisions("ml-pipeline-full")
    ev = shared.metrics(shared.step_of("ml-pipeline-full", "/ml-evaluate", 0))
    assert ev["accuracy"] > 0.87, f"the default data do not pass the gate: {ev}"
    assert decision["branch"] == "then" and decision["value"] == ev["accuracy"]
    assert shared.ran("ml-pipeline-full") == {"/init", "/data-validate", "/feature-engineer", "/baseline",
                                              "/ml-train", "/ml-evaluate", "/ml-deploy"}
    assert not shared.steps("hyperparameter-tune") and not shared.steps("retrain")
    # The baselines, fitted on the labelled windows and scored on the same test windows, fall short.
    assert ev["lr_acc"] <= 0.80 and ev["rule_acc"] <= 0.80 and ev["majority_acc"] <= 0.80, ev
    assert ev["acc_lift_lo"] > 0, ev  # the model beats the best baseline beyond noise

    assert shared.after_pipeline == {"current": "v0001", "versions": ["v0001"]}
    card = assert_version_complete(shared, "v0001")
    model = shared.step_of("ml-pipeline-full", "/ml-train") / "model.pt"
    assert shared.metrics(shared.step_of("ml-pipeline-full", "/ml-train"))["steps_run"] >= 100
    assert card["model_sha256"] == weights_sha256(model)
    assert card["eval_metrics"]["accuracy"] == ev["accuracy"]
    record = json.loads((shared.step_of("ml-pipeline-full", "/ml-deploy", 0) / "deploy.json").read_text())
    assert record["version"] == "v0001" and record["new_version"] and record["dvc_pushed"]


@SHARED
def test_results_prints_the_ledger_table_with_the_run(shared: MLProject) -> None:
    ev = shared.metrics(shared.step_of("ml-pipeline-full", "/ml-evaluate", 0))
    table = shared.slashmake("results").stdout
    header, *rows = table.strip().splitlines()
    assert header.split()[:3] == ["time", "step", "accuracy"]
    assert any("ml-evaluate" in r and f"{ev['accuracy']:.4f}"[:5] in r for r in rows), table


# ------------------------------------------------------------------------------------------------
# 2. shuffled labels: the gate fails, the else branch runs, the registry is untouched
# ------------------------------------------------------------------------------------------------
def test_shuffled_labels_fail_the_gate_and_take_the_else_branch(fresh: MLProject) -> None:
    """Up to a minute: the whole /ml-pipeline-full with real training, plus its else branch (tuning,
    retraining). No budget learns shuffled labels: the first training gets 60 steps, as the else
    branch's do."""
    fresh.set_params({**TINY, "init.shuffle_labels": True, "ml-train.steps": 60})
    fresh.slashmake("run", "/ml-pipeline-full")
    init = fresh.metrics(fresh.step_of("ml-pipeline-full", "/init"))
    assert init["shuffle_labels"] is True
    flow = "ml-pipeline-full"
    ev = fresh.metrics(fresh.step_of(flow, "/ml-evaluate", 0))
    first, second = fresh.decisions(flow)
    assert ev["accuracy"] <= 0.87 and first["branch"] == "else"
    ran = fresh.ran(flow)
    assert {"/hyperparameter-tune", "/retrain"} <= ran and "/ml-deploy" not in ran
    # The else branch evaluates and gates the model it retrained (that one, not the first).
    retrained = fresh.step_of(flow, "/retrain")
    report = json.loads((fresh.step_of(flow, "/ml-evaluate", 1) / "report.json").read_text())
    assert Path(report["model"]).parent.name == retrained.name
    ev2 = fresh.metrics(fresh.step_of(flow, "/ml-evaluate", 1))
    assert second["value"] == ev2["accuracy"] <= 0.87 and second["branch"] == "else"
    assert not fresh.steps("ml-deploy")
    assert fresh.versions() == [] and fresh.current() is None


# ------------------------------------------------------------------------------------------------
# 3. seeds: another seed, other metrics; the same seed (rerun from scratch), identical ones
# ------------------------------------------------------------------------------------------------
def test_training_is_reproducible_per_seed(fresh: MLProject) -> None:
    """Over 60 s under a full suite's load: three real trainings and evaluations through slashmake and
    Snakemake, one forced from scratch. Reproducibility is a property of the code path, not of the
    budget: 60 optimiser steps each."""
    fresh.set_params({**TINY, "ml-train.steps": 60})

    def train(seed: int, *extra: str) -> tuple[dict[str, Any], dict[str, Any], str]:
        fresh.slashmake("run", f"/ml-train --seed {seed} → /ml-evaluate", *extra)
        flow = fresh.flow_name("")
        tr = fresh.step_of(flow, "/ml-train")
        skip = {"train_time_s"}
        m = {k: v for k, v in fresh.metrics(tr).items() if k not in skip}
        return m, fresh.metrics(fresh.step_of(flow, "/ml-evaluate")), weights_sha256(tr / "model.pt")

    a_train, a_eval, a_hash = train(1)
    b_train, b_eval, b_hash = train(2)
    assert a_hash != b_hash
    assert a_eval != b_eval and a_train["best_val_loss"] != b_train["best_val_loss"]
    # Same seed, forced to train again from scratch: bit-identical weights and metrics.
    a2_train, a2_eval, a2_hash = train(1, "--force", "ml-train")
    assert a2_hash == a_hash
    assert a2_train == a_train and a2_eval == a_eval


# ------------------------------------------------------------------------------------------------
# 4. corrupt user data stops the flow at /data-validate
# ------------------------------------------------------------------------------------------------
def test_corrupt_user_csv_stops_the_flow_at_data_validate(fresh: MLProject, tmp_path: Path) -> None:
    """Up to ~60 s: a fresh project runs /init and /data-validate on a user CSV (real Snakemake, real pandera)."""
    from slashmake_ml.data import generate, to_frame

    ohlc, y = generate(60, seed=3)
    df = to_frame(ohlc, y)
    bad = [(int(df.loc[i, "window_id"]), int(df.loc[i, "t"])) for i in (5, 1000, 3333)]
    for i in (5, 1000, 3333):  # high < low
        hi, lo = df.loc[i, "high"], df.loc[i, "low"]
        df.loc[i, "high"], df.loc[i, "low"] = lo - 1.0, hi + 1.0
    csv = tmp_path / "user.csv"
    df.to_csv(csv, index=False)
    fresh.set_params({**TINY, "init.source": str(csv)})

    proc = fresh.slashmake("run", "/ml-pipeline-full", check=False)
    assert proc.returncode != 0
    (init,) = fresh.steps("init")
    assert fresh.metrics(init)["synthetic"] is False
    (log,) = (fresh.root / "logs/steps").glob("data-validate-*.log")
    text = log.read_text()
    for wid, t in bad:
        assert re.search(rf"window_id={wid}\s+t={t}\s+check=\S*high", text) or \
            re.search(rf"window_id={wid}\s+t={t}\s+check=\S*low", text), text
    assert "validation failed" in text
    assert not any((dv / "metrics.json").exists() for dv in fresh.steps("data-validate"))
    for downstream in ("feature-engineer", "ml-train", "ml-evaluate", "ml-deploy", "gate-accuracy"):
        assert not fresh.steps(downstream), downstream
    assert fresh.versions() == []


# ------------------------------------------------------------------------------------------------
# 5. kills: the training process mid-epoch, and the whole run
# ------------------------------------------------------------------------------------------------
KILL_CHAIN = "/ml-train → /ml-evaluate → /ml-deploy"
# Slow enough to be caught mid-training (≈1 s between evaluations), quick to finish on the rerun.
KILL_PARAMS = {**TINY, "ml-train.steps": 200, "ml-train.patience": 200}


def _pids_with(cmd_part: str) -> list[int]:
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if cmd_part in cmd:
                pids.append(int(p.name))
    return pids


def _pids_in(root: Path) -> list[int]:
    """Live processes (zombies excluded) that work in ``root`` or name it on their command line."""
    pids = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit() or int(p.name) == os.getpid():
            continue
        try:
            if (p / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            cwd = os.readlink(p / "cwd")
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
        if Path(cwd).is_relative_to(root) or str(root) in cmd:
            pids.append(int(p.name))
    return pids


def _describe(pid: int) -> str:
    try:
        return f"{pid}: " + Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return f"{pid}: (gone)"


def _wait_for_epoch(proj: MLProject, proc: subprocess.Popen[str], timeout: float = 180) -> int:
    """Wait until the train step's log shows a second evaluation (so training is under way); its pid."""
    script = "slashmake_ml.scripts.train"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, (proj.root / "popen.log").read_text()[-3000:]
        logs = list((proj.root / "logs/steps").glob("ml-train-*.log")) if (proj.root / "logs/steps").exists() else []
        # (tqdm's carriage-return progress shares the line with the evaluation lines)
        if logs and re.search(r"\bstep 40 train_loss", logs[0].read_text(errors="replace")):
            pids = [p for p in _pids_with(script) if str(proj.root) in os.readlink(f"/proc/{p}/cwd")]
            if pids:
                return pids[0]
        time.sleep(0.1)
    raise AssertionError("training never reached its second evaluation")


def _assert_no_corrupt_models(proj: MLProject) -> None:
    import torch

    models = list((proj.root / "results/steps").rglob("*.pt"))
    assert models
    for m in models:
        torch.load(m, map_location="cpu", weights_only=True)  # raises on a truncated file
    for v in proj.versions():
        assert_version_complete(proj, v)
    assert not list(proj.registry.glob(".staging-*")) if proj.registry.exists() else True
    cur = proj.current()
    assert cur is None or cur in proj.versions()


def _finish(proj: MLProject) -> None:
    proj.slashmake("run", KILL_CHAIN)
    flow = proj.flow_name("")
    ev = proj.metrics(proj.step_of(flow, "/ml-evaluate"))
    assert proj.metrics(proj.step_of(flow, "/ml-train"))["steps_run"] == 200
    assert ev["accuracy"] > 0.5
    assert proj.versions() == ["v0001"] and proj.current() == "v0001"
    _assert_no_corrupt_models(proj)


def test_sigkill_of_training_mid_epoch_then_rerun_completes_cleanly(fresh: MLProject) -> None:
    """Over 60 s: real training is killed mid-run, then the chain is run again to the registry."""
    fresh.set_params(KILL_PARAMS)
    proc = fresh.popen("run", KILL_CHAIN)
    try:
        pid = _wait_for_epoch(fresh, proc)
        os.kill(pid, signal.SIGKILL)
        rc = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert rc != 0
    # Snakemake removed the failed step's outputs: no half-written model or metrics anywhere.
    for step in ("ml-train", "ml-evaluate", "ml-deploy"):
        for folder in fresh.steps(step):
            assert not (folder / "model.pt").exists() and not (folder / "metrics.json").exists(), folder
    assert fresh.versions() == []
    _finish(fresh)


def test_killing_the_whole_run_then_rerun_completes(fresh: MLProject) -> None:
    """Over 60 s: real training is killed with its whole run, then the chain is run again to the registry."""
    fresh.set_params(KILL_PARAMS)
    proc = fresh.popen("run", KILL_CHAIN)
    try:
        _wait_for_epoch(fresh, proc)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    # Nothing of the killed run survives: every process of it (slashmake, Snakemake, the jobs) was in
    # the run's process group, so none still works in the project once the dead ones are reaped.
    deadline = time.monotonic() + 5
    while _pids_in(fresh.root) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _pids_in(fresh.root), [_describe(pid) for pid in _pids_in(fresh.root)]
    _finish(fresh)


# ------------------------------------------------------------------------------------------------
# 6. /rollback by sha256, and `dvc pull` of the registry from its remote
# ------------------------------------------------------------------------------------------------
def test_rollback_restores_previous_version_and_dvc_pull_restores_the_model(fresh: MLProject,
                                                                            tmp_path: Path) -> None:
    """Over 60 s: two trainings deployed to a DVC-versioned registry (each a torch.export and a DVC push),
    a rollback, and a real `dvc pull`. No gate stands before the deploys, so 60 training steps do."""
    fresh.set_params({**TINY, "ml-train.steps": 60})
    cards = {}
    for seed, version in ((1, "v0001"), (2, "v0002")):
        fresh.slashmake("run", f"/ml-train --seed {seed} → /ml-evaluate → /ml-deploy")
        assert fresh.current() == version
        cards[version] = assert_version_complete(fresh, version)
    assert cards["v0001"]["model_sha256"] != cards["v0002"]["model_sha256"]

    fresh.slashmake("run", "/rollback")
    (rb,) = fresh.steps("rollback")
    m = fresh.metrics(rb)
    assert m["rolled_back"] is True and m["sha256_ok"] is True
    assert fresh.current() == "v0001"
    served = fresh.registry / fresh.current()  # what a server loads: registry/<name>/<CURRENT>
    assert weights_sha256(served / "state_dict.pt") == cards["v0001"]["model_sha256"]
    assert sha256_file(served / "model.pt2") == cards["v0001"]["files"]["model.pt2"]
    events = [json.loads(line)["action"] for line in (fresh.registry / "history.jsonl").read_text().splitlines()]
    assert events == ["deploy", "deploy", "rollback"]

    # A fresh copy of the registry's DVC metadata (no data) restores the deployed model from the remote.
    reg = fresh.root / "registry"
    clone = tmp_path / "registry-clone"
    shutil.copytree(reg, clone, ignore=lambda d, names: [n for n in names if re.fullmatch(r"v\d{4,}", n)
                                                         or n in {"cache", "tmp"}])
    assert not (clone / MODEL / "v0001").exists() and (clone / MODEL / "v0001.dvc").exists()
    dvc = shutil.which("dvc", path=str(Path(PYTHON).parent)) or "dvc"
    proc = subprocess.run([dvc, "pull"], cwd=clone, capture_output=True, text=True, env=fresh.env(), timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cur = (clone / MODEL / "CURRENT").read_text().strip()
    assert cur == "v0001"
    for v in ("v0001", "v0002"):
        for name, digest in cards[v]["files"].items():
            assert sha256_file(clone / MODEL / v / name) == digest
    assert weights_sha256(clone / MODEL / cur / "state_dict.pt") == cards["v0001"]["model_sha256"]


# ------------------------------------------------------------------------------------------------
# 7. the seed's other named workflows, end to end locally
# ------------------------------------------------------------------------------------------------
def _check_decisions(proj: MLProject, flow: str) -> list[str]:
    """Every gate's decision agrees with the metric it read; returns the branches."""
    branches = []
    for d in proj.decisions(flow):
        src = json.loads((proj.root / d["source"]).read_text())
        key = d["metric"]
        value = src.get(key, d["value"])
        assert d["value"] == value
        if d["op"] is None or d.get("threshold") in (None, ""):
            taken = bool(value)
        else:
            thr = float(d["threshold"])
            taken = {">": value > thr, ">=": value >= thr, "<": value < thr, "<=": value <= thr,
                     "==": value == thr, "!=": value != thr}[d["op"]]
        assert d["branch"] == ("then" if taken else "else"), d
        branches.append(d["branch"])
    return branches


@SHARED
def test_runpod_hpo_parallel(shared: MLProject) -> None:
    """Nine real pre-train-and-fine-tune variants (3 sigmas x 3 seeds), aggregated and gated: the shared
    project's set-up ran them (test_compare_e2e.py compares them too), so this run finds them up to date."""
    shared.slashmake("run", "/runpod-hpo-parallel")
    flow = "runpod-hpo-parallel"
    (train,) = [shared.root / s["folder"] for s in shared.index(flow)["steps"] if s["label"] == "/train"]
    variants = sorted(p.name for p in train.iterdir() if (p / "metrics.json").exists())
    assert len(variants) == 9  # 3 sigmas x 3 seeds, one rule over a {variant} wildcard
    runs = [shared.metrics(train / v) for v in variants]
    agg = shared.metrics(shared.step_of(flow, "/results:aggregate"))
    assert agg["n_variants"] == 3 and agg["min_seeds"] == 3 and agg["n_runs"] == 9
    means = {s: statistics.mean(r["val_accuracy"] for r in runs if r["sigma"] == s) for s in (0.0, 0.10, 0.20)}
    sds = {s: statistics.stdev(r["val_accuracy"] for r in runs if r["sigma"] == s) for s in means}
    best_sigma = max(means, key=lambda s: (means[s], -sds[s]))
    assert agg["best_sigma"] == best_sigma and agg["best_mean"] == pytest.approx(means[best_sigma])
    assert agg["best_sd"] == pytest.approx(sds[best_sigma])
    sel = shared.metrics(shared.step_of(flow, "/best-model:select"))
    assert sel["best_sigma"] == best_sigma
    # Selection reads validation only: no test file reaches the variants, the aggregate or the
    # selection; the one evaluation of the chosen model reads it (the check can fail).
    init = shared.step_of(flow, "/init")
    test_files = (f"{init.name}/test.parquet", "test_features.npz")
    for label in ("/train", "/results:aggregate", "/best-model:select", "/baseline"):
        reads = shared.inputs_of(flow, shared.step_of(flow, label))
        assert reads and not any(t in reads for t in test_files), (label, reads)
    ev = shared.step_of(flow, "/ml-evaluate")
    assert test_files[0] in shared.inputs_of(flow, ev)
    assert "test_accuracy" not in runs[0] and "accuracy" not in runs[0]
    (branch,) = _check_decisions(shared, flow)
    assert shared.metrics(ev)["accuracy"] == shared.decisions(flow)[0]["value"]
    ran = shared.ran(flow)
    assert {"/runpod-setup", "/train", "/results:aggregate", "/best-model:select", "/ml-evaluate"} <= ran
    assert ("/ml-deploy" in ran) == (branch == "then") and ("/analyze-failures" in ran) == (branch == "else")


@SHARED
def test_tuning_and_better_read_no_test_split(shared: MLProject) -> None:
    """/hyperparameter-tune (ml-pipeline-full's else branch) and /compare-live decide on validation."""
    for flow, label in (("ml-pipeline-full", "/hyperparameter-tune"), ("ml-pipeline-full", "/retrain"),
                        ("continuous-training", "/compare-live")):
        shared.slashmake("compile")
        text = (shared.root / "rules/compiled" / f"{flow}.smk").read_text()
        (key,) = set(re.findall(rf"results/steps/({re.escape(label.lstrip('/'))}-[0-9a-f]{{8}})/", text))
        reads = shared.inputs_of(flow, shared.root / "results/steps" / key)
        assert reads and "test.parquet" not in reads and "test_features" not in reads, (label, reads)


@SHARED
def test_deploy_production(shared: MLProject) -> None:
    """Over 60 s: the /deploy-production macro's six steps, each a real program on the shared project."""
    shared.slashmake("run", "/deploy-production", timeout=500)
    flow = "deploy-production"
    (branch,) = _check_decisions(shared, flow)
    ran = shared.ran(flow)
    assert {"/code-review", "/security-scan", "/performance-test", "/runpod-staging"} <= ran
    if branch == "then":
        assert {"/runpod-production", "/monitor-setup"} <= ran and "/rollback" not in ran
        assert shared.metrics(shared.step_of(flow, "/runpod-staging"))["tests_pass"] is True
        assert shared.metrics(shared.step_of(flow, "/monitor-setup"))["has_model"] is True
    else:
        assert "/rollback" in ran and "/runpod-production" not in ran
    staging = shared.root / "registry" / f"{MODEL}-staging"
    assert (staging / "CURRENT").exists()


@SHARED
def test_lstm_pretraining_full(shared: MLProject) -> None:
    """Over 60 s: real pre-training and fine-tuning, evaluated, gated, deployed and benchmarked."""
    shared.slashmake("run", "/lstm-pretraining-full")
    flow = "lstm-pretraining-full"
    ran = shared.ran(flow)
    # /evaluate and /deploy are one-line aliases: their steps are /ml-evaluate and /ml-deploy
    assert {"/data-validate", "/feature-engineer", "/pretrain-bilstm", "/fine-tune-simplelstm", "/ml-evaluate"} <= ran
    (branch,) = _check_decisions(shared, flow)
    assert ({"/ml-deploy", "/benchmark"} <= ran) == (branch == "then")
    ft = shared.metrics(shared.step_of(flow, "/fine-tune-simplelstm"))
    assert ft["fine_tuned"] is True


@SHARED
def test_continuous_training(shared: MLProject) -> None:
    """Over 60 s: drift detection, a data refresh, real retraining and a comparison with the live model."""
    shared.slashmake("run", "/continuous-training")
    flow = "continuous-training"
    branches = _check_decisions(shared, flow)
    assert branches[0] == "then"  # /monitor-performance compares with a shifted batch by default
    assert shared.metrics(shared.step_of(flow, "/monitor-performance"))["drift_detected"] is True
    ran = shared.ran(flow)
    assert {"/monitor-performance", "/data-refresh", "/retrain", "/compare-live"} <= ran
    # The refresh trains on the drifted batch that the monitor saw (its windows, split in time order).
    cur = shared.step_of(flow, "/monitor-performance") / "current.parquet"
    refresh = shared.step_of(flow, "/data-refresh")
    import pandas as pd
    seen = set(pd.read_parquet(cur)["window_id"])
    used = set(pd.read_parquet(refresh / "data.parquet")["window_id"]) | set(pd.read_parquet(refresh / "test.parquet")["window_id"])
    assert used == seen
    better = shared.metrics(shared.step_of(flow, "/compare-live"))
    assert better["better_performance"] == (better["acc_gain_lo"] > better["margin"])  # v0001 is live
    assert branches[1] == ("then" if better["better_performance"] else "else")
    if branches[1] == "then":
        assert {"/ml-deploy", "/monitor"} <= ran and "/continue-monitoring" not in ran
    else:
        assert "/continue-monitoring" in ran and "/ml-deploy" not in ran


# ------------------------------------------------------------------------------------------------
# 8. fine-tuning starts from the pre-trained encoder; each sigma pre-trains with that sigma
# ------------------------------------------------------------------------------------------------
@SHARED
def test_fine_tune_starts_from_each_sigmas_encoder(shared: MLProject) -> None:
    """Over 60 s: reads the nine variants of /runpod-hpo-parallel (built by test_runpod_hpo_parallel when it ran
    first on this worker) and fine-tunes once more for 300 steps, past the frozen phase."""
    import torch

    shared.slashmake("run", "/runpod-hpo-parallel")  # up to date if test_runpod_hpo_parallel ran
    (train,) = [shared.root / s["folder"] for s in shared.index("runpod-hpo-parallel")["steps"]
                if s["label"] == "/train"]
    sigmas, encoders = {}, set()
    for v in sorted(p for p in train.iterdir() if (p / "metrics.json").exists()):
        m = shared.metrics(v)
        enc_file = torch.load(v / "encoder.pt", map_location="cpu", weights_only=True)
        enc_hash = weights_sha256(v / "encoder.pt", key="encoder")
        assert m["fine_tuned"] is True
        assert m["encoder_sha256_loaded"] == enc_hash == m["model_encoder_sha256_at_start"] == m["encoder_sha256"]
        assert enc_file["config"]["sigma"] == m["sigma"]
        sigmas[v.name] = m["sigma"]
        encoders.add(enc_hash)
        assert torch.load(v / "model.pt", map_location="cpu", weights_only=True)["sigma"] == m["sigma"]
        # TINY's 60 steps end inside fine-tuning's frozen phase: the encoder is the pre-trained one, weight by weight.
        assert not _encoder_moved(v / "model.pt", v / "encoder.pt"), v.name
    assert sorted(sigmas.values()) == [0.0] * 3 + [0.10] * 3 + [0.20] * 3
    for name, sigma in sigmas.items():
        assert float(re.match(r"sigma-([\d.]+)_seed-\d$", name).group(1)) == sigma, (name, sigma)  # type: ignore[union-attr]
    assert len(encoders) == 9  # each sigma and seed pre-trained its own encoder

    # /fine-tune (pretraining-complete) loads /pretrain's encoder file (aliases of the -bilstm/-simplelstm steps).
    # Trained past the frozen phase, the fine-tuned model moved away from the encoder it started from.
    shared.slashmake("run", "/preprocess → /pretrain --sigma 0.15 → /fine-tune --steps 300")
    flow = shared.flow_name("")
    pre = shared.step_of(flow, "/pretrain-bilstm")
    ft_dir = shared.step_of(flow, "/fine-tune-simplelstm")
    ft = shared.metrics(ft_dir)
    assert shared.metrics(pre)["sigma"] == 0.15
    assert ft["encoder_sha256_loaded"] == weights_sha256(pre / "encoder.pt", key="encoder") \
        == ft["model_encoder_sha256_at_start"]
    freeze = torch.load(ft_dir / "model.pt", map_location="cpu", weights_only=True)["train_config"]["freeze_steps"]
    assert ft["best_step"] > freeze, ft  # the weights kept are from after the unfreeze
    assert _encoder_moved(ft_dir / "model.pt", pre / "encoder.pt")


def _encoder_moved(model: Path, encoder: Path) -> bool:
    """Whether a fine-tuned checkpoint's encoder weights differ from the pre-trained encoder file's."""
    import torch

    start = torch.load(encoder, map_location="cpu", weights_only=True)["encoder"]
    tuned = {k.removeprefix("encoder."): t for k, t in
             torch.load(model, map_location="cpu", weights_only=True)["state_dict"].items() if k.startswith("encoder.")}
    assert tuned.keys() == start.keys() and all(tuned[k].shape == start[k].shape for k in start)
    return not all(torch.equal(tuned[k], start[k]) for k in start)


# ------------------------------------------------------------------------------------------------
# 9. /drift-detect: a shifted batch is flagged, a fresh sample of the same distribution is not
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "drift"), [("--shift 0.6", True), ("--current_seed 123", False)],
                         ids=["shifted", "same-distribution"])
@SHARED
def test_drift_detect(shared: MLProject, args: str, drift: bool) -> None:
    shared.slashmake("run", f"/drift-detect {args} → /if:drift_detected → /notify-team → /else → /continue-monitoring")
    flow = shared.flow_name("")
    m = shared.metrics(shared.step_of(flow, "/drift-detect"))
    assert m["drift_detected"] is drift, m
    (branch,) = _check_decisions(shared, flow)
    assert branch == ("then" if drift else "else")
    assert ("/notify-team" in shared.ran(flow)) is drift


# ------------------------------------------------------------------------------------------------
# 10. --report writes an HTML report with the plots and the gate decision
# ------------------------------------------------------------------------------------------------
@SHARED
def test_report_html_has_plots_and_gate_decision(shared: MLProject) -> None:
    registry_before = (shared.versions(), shared.current())
    outputs = sorted((shared.root / "results/steps").rglob("metrics.json"))
    written_before = [p.stat().st_mtime_ns for p in outputs]
    shared.slashmake("run", "/ml-pipeline-full", "--report", "report.html")
    html = (shared.root / "report.html").read_text(errors="replace")
    assert "<html" in html[:5000].lower()
    # Snakemake embeds each reported file as a data URI: decode them by file name.
    embedded: dict[str, list[bytes]] = {}
    for mime, name, data in re.findall(r"data:([\w/+.-]+);charset=utf8;filename=([^;]+);base64,([A-Za-z0-9+/=]+)", html):
        embedded.setdefault(name, []).append(base64.b64decode(data))
        if name.endswith(".png"):
            assert mime == "image/png" and embedded[name][-1].startswith(b"\x89PNG")
    assert embedded.get("curve.png") and embedded.get("reliability.png"), sorted(embedded)
    (decision,) = shared.decisions("ml-pipeline-full")
    assert decision["branch"] == "then"
    assert decision in [json.loads(b) for b in embedded.get("decision.json", [])], sorted(embedded)
    # No rerun: the report run found everything up to date, so it deployed nothing.
    assert (shared.versions(), shared.current()) == registry_before
    assert shared.after_pipeline["versions"] == ["v0001"]
    assert [p.stat().st_mtime_ns for p in outputs] == written_before, "the report run reran steps"
