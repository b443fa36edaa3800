"""What the ML pipeline measures on its default data (not run by CI; ~15 CPU-minutes).

Prints, each as mean ± sd over seeds (default 3):
  * the baselines (majority, one-feature rule, logistic regression) fitted on the labelled windows,
    scored on the test windows;
  * SimpleLSTM from scratch against pre-trained (default sigma) at the default labelled size, and
    their paired difference with a 95% t-interval;
  * the time-warp sigma sweep: validation accuracy (what selection sees) and test accuracy, with
    the held-out reconstruction error against the mean and neighbour predictors.

    .venv/bin/python bench/bench_ml_effect.py [--seeds 1,2,3] [--sigmas 0.0,0.12,0.25] [--jobs 2]

Runs go through the library (the code the scripts call), one torch thread each, ``--jobs`` at once.
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np


def _data() -> dict[str, np.ndarray]:
    from slashmake_ml.config import DataConfig
    from slashmake_ml.data import from_frame, make_synthetic
    from slashmake_ml.features import compute_features

    lab, test, unl = make_synthetic(DataConfig())
    (X, y, _), (Xt, yt, _), (U, _, _) = from_frame(lab), from_frame(test), from_frame(unl)
    return {"ohlc": X, "y": y, "F": compute_features(X), "test_ohlc": Xt, "yt": yt,
            "Ft": compute_features(Xt), "unl": U}


def run(job: tuple[float | None, int]) -> dict[str, Any]:
    """One run: sigma None = from scratch; otherwise pre-train with that sigma, then fine-tune."""
    import dataclasses

    from slashmake_ml.config import PretrainConfig, TrainConfig
    from slashmake_ml.evaluate import predict_proba
    from slashmake_ml.pretrain import pretrain_encoder
    from slashmake_ml.train import train_classifier

    sigma, seed = job
    d = _data()
    t0 = time.perf_counter()
    out: dict[str, Any] = {"sigma": sigma, "seed": seed}
    enc = None
    if sigma is not None:
        enc, pm, _ = pretrain_encoder(d["unl"], dataclasses.replace(PretrainConfig(), sigma=sigma, seed=seed,
                                                                    device="cpu"), progress=False)
        out.update({k: pm[k] for k in ("recon_heldout", "recon_mean_baseline", "recon_neighbour_baseline",
                                       "steps_run", "converged")})
    res = train_classifier(d["F"], d["y"], TrainConfig(seed=seed, device="cpu"), init_encoder=enc, progress=False)
    out["val_accuracy"] = res.metrics["val_accuracy"]
    out["test_accuracy"] = float((predict_proba(res.model, d["Ft"]).argmax(1) == d["yt"]).mean())
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def ms(vals: list[float]) -> str:
    return f"{statistics.mean(vals):.3f} ± {statistics.stdev(vals) if len(vals) > 1 else 0.0:.3f}"


def main() -> None:
    """Run the measurements and print them."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--sigmas", default="0.0,0.12,0.25", help="the default sigma (0.12) is the pre-trained arm")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    from slashmake_ml.baseline import fit_baselines, predict_baselines
    from slashmake_ml.config import PretrainConfig

    seeds = [int(s) for s in a.seeds.split(",")]
    sigmas = [float(s) for s in a.sigmas.split(",")]
    d = _data()
    pred = predict_baselines(fit_baselines(d["ohlc"], d["y"]), d["test_ohlc"])
    print(f"data: {len(d['y'])} labelled, {len(d['yt'])} test, {len(d['unl'])} unlabelled windows (DataConfig defaults)")
    print("baselines on test: " + ", ".join(f"{k} {float((p == d['yt']).mean()):.3f}" for k, p in pred.items()))
    jobs = [(None, s) for s in seeds] + [(sg, s) for sg in sigmas for s in seeds]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(a.jobs) as ex:
        rows = list(ex.map(run, jobs))
    print(f"{len(rows)} runs in {time.perf_counter() - t0:.0f} s ({a.jobs} at once, 1 thread each)")
    scratch = {r["seed"]: r for r in rows if r["sigma"] is None}
    print("\nsigma   pre-train steps   recon held-out (mean / neighbour)   val acc          test acc")
    print(f"scratch {'-':>15}   {'-':>33}   {ms([r['val_accuracy'] for r in scratch.values()]):>14}   "
          f"{ms([r['test_accuracy'] for r in scratch.values()]):>14}")
    for sg in sigmas:
        rs = [r for r in rows if r["sigma"] == sg]
        print(f"{sg:<7} {ms([r['steps_run'] for r in rs]):>15}   "
              f"{ms([r['recon_heldout'] for r in rs])} ({statistics.mean(r['recon_mean_baseline'] for r in rs):.3f} / "
              f"{statistics.mean(r['recon_neighbour_baseline'] for r in rs):.3f})   "
              f"{ms([r['val_accuracy'] for r in rs]):>14}   {ms([r['test_accuracy'] for r in rs]):>14}")
    default = PretrainConfig.sigma
    pre = {r["seed"]: r for r in rows if r["sigma"] == default}
    if pre:
        from scipy.stats import t as student_t

        diff = [pre[s]["test_accuracy"] - scratch[s]["test_accuracy"] for s in seeds]
        half = student_t.ppf(0.975, len(diff) - 1) * statistics.stdev(diff) / len(diff) ** 0.5 if len(diff) > 1 else 0
        print(f"\nscratch vs pre-trained (sigma {default}) at {len(d['y'])} labels, test accuracy over {len(seeds)} seeds:")
        print(f"  scratch {ms([scratch[s]['test_accuracy'] for s in seeds])}, pre-trained "
              f"{ms([pre[s]['test_accuracy'] for s in seeds])}; difference {statistics.mean(diff):+.3f} "
              f"(95% CI {statistics.mean(diff) - half:+.3f} .. {statistics.mean(diff) + half:+.3f})")


if __name__ == "__main__":
    main()
