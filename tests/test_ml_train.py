"""Model, training, pre-training, fine-tuning, evaluation and sweep aggregation."""

from __future__ import annotations

import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from slashmake_ml.config import ModelConfig
from slashmake_ml.model import SimpleLSTM, n_params, state_dict_sha256
from slashmake_ml.train import focal_loss

REPO = Path(__file__).resolve().parents[1]
TINY = ["--steps", "20", "--eval-every", "10", "--patience", "2", "--batch-size", "32"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def load(p: Path) -> dict[str, object]:
    return dict(json.loads(p.read_text()))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("mldata")
    run(
        "-m", "slashmake_ml.scripts.init",
        f"--data={d}/data.parquet",
        f"--test={d}/test.parquet",
        f"--unlabelled={d}/unl.parquet",
        "--n-labelled",
        "160",
        "--n-test",
        "60",
        "--n-unlabelled",
        "96",
    )
    run("-m", "slashmake_ml.scripts.features", f"--data={d}/data.parquet", f"--out={d}/features.npz")
    return d


def test_simple_lstm_is_about_17k_params_and_shares_the_encoder() -> None:
    m = SimpleLSTM(ModelConfig())
    assert 15_000 <= n_params(m) <= 19_000
    out = m(torch.zeros(3, 105, 6))  # (B, C)
    assert out.shape == (3, 2)
    assert set(m.encoder.state_dict()) == {
        k.removeprefix("encoder.") for k in m.state_dict() if k.startswith("encoder.")
    }


def test_focal_loss_with_gamma_0_is_cross_entropy() -> None:
    logits, y = torch.randn(8, 2), torch.randint(0, 2, (8,))
    assert torch.allclose(focal_loss(logits, y, 0.0), F.cross_entropy(logits, y))
    assert focal_loss(logits, y, 2.0) < F.cross_entropy(logits, y)


def test_same_seed_same_metrics_other_seed_different(data: Path, tmp_path: Path) -> None:
    ms = []
    for tag, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        run(
            "-m", "slashmake_ml.scripts.train",
            f"--features={data}/features.npz",
            f"--model={tmp_path}/{tag}.pt",
            f"--metrics={tmp_path}/{tag}.json",
            "--seed",
            seed,
            *TINY,
        )
        m = load(tmp_path / f"{tag}.json")
        m.pop("train_time_s")
        ms.append(m)
    assert ms[0] == ms[1]
    assert ms[0]["best_val_loss"] != ms[2]["best_val_loss"]


def test_pretrain_records_sigma_and_fine_tune_starts_from_the_encoder(data: Path, tmp_path: Path) -> None:
    encs = {}
    for sigma in ("0.10", "0.20"):
        run(
            "-m", "slashmake_ml.scripts.pretrain",
            f"--data={data}/unl.parquet",
            f"--encoder={tmp_path}/enc{sigma}.pt",
            f"--metrics={tmp_path}/pre{sigma}.json",
            f"--curve={tmp_path}/c{sigma}.png",
            "--sigma",
            sigma,
            "--steps",
            "20",
            "--eval-every",
            "10",
        )
        m = load(tmp_path / f"pre{sigma}.json")
        assert m["sigma"] == float(sigma)
        encs[sigma] = m["encoder_sha256"]
        assert (tmp_path / f"c{sigma}.png").stat().st_size > 0
    assert encs["0.10"] != encs["0.20"]  # sigma changes what is learned
    run(
        "-m", "slashmake_ml.scripts.train",
        f"--features={data}/features.npz",
        f"--init-encoder={tmp_path}/enc0.10.pt",
        f"--model={tmp_path}/ft.pt",
        f"--metrics={tmp_path}/ft.json",
        *TINY,
        "--freeze-steps",
        "5",
        "--patience",
        "100",
    )
    ft = load(tmp_path / "ft.json")
    assert ft["fine_tuned"] is True
    assert ft["encoder_sha256_loaded"] == ft["model_encoder_sha256_at_start"] == encs["0.10"]
    # And the encoder did train afterwards: the final weights differ from the start.
    ck = torch.load(tmp_path / "ft.pt", weights_only=True)
    enc_final = {
        k.removeprefix("encoder."): v for k, v in ck["state_dict"].items() if k.startswith("encoder.")
    }
    assert state_dict_sha256(enc_final) != encs["0.10"]
    # While frozen (Moola's first phase) the encoder does not move, though the head does.
    run("-m", "slashmake_ml.scripts.train", f"--features={data}/features.npz", f"--init-encoder={tmp_path}/enc0.10.pt",
        f"--model={tmp_path}/frozen.pt", *TINY, "--freeze-steps", "1000")
    ck = torch.load(tmp_path / "frozen.pt", weights_only=True)["state_dict"]
    frozen = {k.removeprefix("encoder."): v for k, v in ck.items() if k.startswith("encoder.")}
    assert state_dict_sha256(frozen) == encs["0.10"]


def test_sigkill_mid_epoch_leaves_no_complete_looking_model(data: Path, tmp_path: Path) -> None:
    model = tmp_path / "model.pt"
    metrics = tmp_path / "m.json"
    args = [
        sys.executable,
        "-m", "slashmake_ml.scripts.train",
        f"--features={data}/features.npz",
        f"--model={model}",
        f"--metrics={metrics}",
        "--steps",
        "100000",
        "--eval-every",
        "5",
        "--patience",
        "100000",
    ]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    deadline = time.time() + 120
    seen = ""
    for line in proc.stdout:  # wait until training is under way (one evaluation logged)
        if line.startswith("step 5 ") or time.time() > deadline:
            seen = line
            break
    assert seen.startswith("step 5 "), "training never logged its first evaluation"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # Mid-training nothing of the model is on disk, under its name or a temp name (.model.pt.*.tmp).
    assert sorted(p.name for p in tmp_path.iterdir()) == [], list(tmp_path.iterdir())
    run(*args[1:5], f"--metrics={metrics}", *TINY)  # a rerun completes
    assert model.exists() and load(metrics)["steps_run"] == 20


# Runs a training script with torch.save replaced: the real save, then the file cut to half its
# bytes (what a kill in the middle of the write leaves), then a line naming it and a wait on stdin
# that only the test's SIGKILL ends.
_HALF_WRITE = """
import os, runpy, sys, torch
real_save = torch.save
def half_saved_then_killed(obj, f, *args, **kwargs):
    real_save(obj, f, *args, **kwargs)
    os.truncate(f, os.path.getsize(f) // 2)
    print("WRITING", os.path.abspath(f), flush=True)
    sys.stdin.read()
torch.save = half_saved_then_killed
module = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def test_sigkill_during_the_checkpoint_write_leaves_no_partial_model(data: Path, tmp_path: Path) -> None:
    """Killed while torch.save is writing the checkpoint: no model.pt at all, and the rerun's loads."""
    out = tmp_path / "out"
    out.mkdir()  # as Snakemake makes an output's folder before the job starts
    model, metrics = out / "model.pt", out / "m.json"
    argv = [sys.executable, "-c", _HALF_WRITE, "slashmake_ml.scripts.train", f"--features={data}/features.npz",
            f"--model={model}", f"--metrics={metrics}", *TINY]
    proc = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    writing = ""
    try:
        for line in proc.stdout:
            if line.startswith("WRITING "):
                writing = line.split(" ", 1)[1].strip()
                break
    finally:
        proc.kill()  # SIGKILL: no handler, no cleanup runs
        proc.wait()
    assert writing, "training finished without writing a checkpoint"
    partial = Path(writing)
    assert partial.parent == out and partial.exists()  # the half-written file, as the kill left it
    assert not model.exists() and not metrics.exists()
    # The half-written bytes sit under a temp name that no step reads; nothing else is there.
    leftovers = sorted(p.name for p in out.iterdir())
    assert leftovers == [partial.name] and re.fullmatch(r"\.model\.pt\.\w+\.tmp", partial.name), leftovers
    with pytest.raises(Exception):  # noqa: B017 - torch raises one of several errors on a truncated file
        torch.load(partial, weights_only=True)
    run("-m", "slashmake_ml.scripts.train", f"--features={data}/features.npz", f"--model={model}", f"--metrics={metrics}",
        *TINY)
    assert load(metrics)["steps_run"] == 20
    assert torch.load(model, weights_only=True)["state_dict"]  # the rerun's checkpoint is whole


def test_evaluate_writes_all_metrics_plots_and_ledger(data: Path, tmp_path: Path) -> None:
    run("-m", "slashmake_ml.scripts.train", f"--features={data}/features.npz", f"--model={tmp_path}/m.pt", *TINY)
    ledger = tmp_path / "ledger.jsonl"
    for _ in range(2):
        run(
            "-m", "slashmake_ml.scripts.evaluate",
            f"--model={tmp_path}/m.pt",
            f"--test={data}/test.parquet",
            f"--metrics={tmp_path}/e.json",
            f"--report={tmp_path}/r.json",
            f"--reliability={tmp_path}/rel.png",
            f"--ledger={ledger}",
            "--step",
            "ml-evaluate",
        )
    m = load(tmp_path / "e.json")
    # Every metric the script wrote equals the textbook definition (tests/test_ml_metrics.py) applied
    # to the model's own probabilities on the test windows.
    from test_ml_metrics import reference_metrics

    from slashmake_ml.cli import load_labelled
    from slashmake_ml.evaluate import predict_proba
    from slashmake_ml.model import load_checkpoint

    X, y = load_labelled(f"{data}/test.parquet")
    proba = predict_proba(load_checkpoint(str(tmp_path / "m.pt"))[0], X)
    want = reference_metrics(proba.tolist(), [int(t) for t in y])
    for k in ("accuracy", "f1_macro", "f1_class0", "f1_class1", "ece", "brier", "log_loss",
              "cm_0_0", "cm_0_1", "cm_1_0", "cm_1_1", "n_test"):
        assert m[k] == pytest.approx(want[k], abs=1e-6), k  # (float32 sums differ across thread counts)
    assert sum(int(m[f"cm_{i}_{j}"]) for i in (0, 1) for j in (0, 1)) == 60  # type: ignore[call-overload]
    rows = [json.loads(x) for x in ledger.read_text().splitlines()]
    assert (
        len(rows) == 2
        and rows[0]["step"] == "ml-evaluate"
        and "accuracy" in rows[0]["metrics"]
        and rows[0]["time"]
    )
    assert (tmp_path / "rel.png").read_bytes()[:4] == b"\x89PNG"


def test_sweep_runs_aggregate_as_mean_and_sd_and_select_on_validation(data: Path, tmp_path: Path) -> None:
    """Slow (under a minute): six real training runs (two sigmas x three seeds) feed the aggregate."""
    files, models = [], []
    for sigma in ("0.0", "0.2"):
        for seed in ("1", "2", "3"):
            v = tmp_path / f"sigma-{sigma}_seed-{seed}"
            run("-m", "slashmake_ml.scripts.train_sweep", f"--unlabelled={data}/unl.parquet", f"--features={data}/features.npz",
                f"--encoder={v}/encoder.pt", f"--model={v}/model.pt", f"--metrics={v}/metrics.json",
                "--pretrain-sigma", sigma, "--pretrain-steps", "10", "--seed", seed, *TINY)
            m = load(v / "metrics.json")
            assert m["sigma"] == float(sigma) and m["seed"] == int(seed)
            assert not any(k.startswith("test_") for k in m)  # a selection sweep reports validation only
            files.append(str(v / "metrics.json"))
            models.append(str(v / "model.pt"))
    run("-m", "slashmake_ml.scripts.aggregate", "--metrics", *files, f"--out={tmp_path}/agg.json",
        f"--summary={tmp_path}/summary.json", f"--plot={tmp_path}/sigma.png")
    agg, summary = load(tmp_path / "agg.json"), load(tmp_path / "summary.json")
    groups = {g["sigma"]: g for g in summary["groups"]}  # type: ignore[attr-defined]
    assert set(groups) == {0.0, 0.2} and agg["min_seeds"] == 3 and agg["n_runs"] == 6
    for sigma, g in groups.items():
        vals = [load(Path(f))["val_accuracy"] for f in files if f"sigma-{sigma:.1f}_" in f]
        assert g["values"] == pytest.approx(vals)
        assert g["mean"] == pytest.approx(statistics.mean(vals))
        assert g["sd"] == pytest.approx(statistics.stdev(vals))
    best = max(groups.values(), key=lambda g: (g["mean"], -g["sd"]))
    assert agg["best_sigma"] == best["sigma"] and agg["best_mean"] == pytest.approx(best["mean"])
    assert (tmp_path / "sigma.png").read_bytes()[:4] == b"\x89PNG"
    run("-m", "slashmake_ml.scripts.select_best", f"--summary={tmp_path}/summary.json", "--models", *reversed(models),
        f"--model={tmp_path}/best.pt", f"--metrics={tmp_path}/sel.json")
    src = Path(str(load(tmp_path / "sel.json")["source_model"])).parent
    assert src.name.startswith(f"sigma-{best['sigma']:.1f}_")
    top = max(best["runs"], key=lambda r: r["val_accuracy"])
    assert str(src) == top["variant_dir"]


def test_scratch_and_pretrained_runs_give_a_paired_difference(data: Path, tmp_path: Path) -> None:
    files = []
    for start in ("scratch", "pretrained"):
        for seed in ("1", "2"):
            v = tmp_path / f"{start}-{seed}"
            run("-m", "slashmake_ml.scripts.train_sweep", f"--unlabelled={data}/unl.parquet", f"--features={data}/features.npz",
                f"--test={data}/test.parquet", f"--encoder={v}/encoder.pt", f"--model={v}/model.pt",
                f"--metrics={v}/metrics.json", "--start", start, "--pretrain-steps", "10", "--seed", seed, *TINY)
            files.append(v / "metrics.json")
    run("-m", "slashmake_ml.scripts.aggregate", "--metrics", *map(str, files), "--metric", "test_accuracy",
        f"--out={tmp_path}/cmp.json")
    m = load(tmp_path / "cmp.json")
    acc = {f.parent.name: load(f)["test_accuracy"] for f in files}
    diffs = [acc[f"pretrained-{s}"] - acc[f"scratch-{s}"] for s in ("1", "2")]  # type: ignore[operator]
    assert m["n_pairs"] == 2 and m["diff_mean"] == pytest.approx(statistics.mean(diffs))
    assert m["diff_lo"] <= m["diff_mean"] <= m["diff_hi"]  # type: ignore[operator]
