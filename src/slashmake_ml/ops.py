"""Operations steps: code review (ruff), security scan (bandit), latency test, notifications."""

from __future__ import annotations

import json
import os
import shutil
import subprocess  # nosec B404 - runs ruff/bandit with fixed argument lists
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

WEBHOOK_ENV = "SLASHMAKE_WEBHOOK_URL"


def _tool(name: str) -> str:
    return shutil.which(name) or str(Path(sys.executable).with_name(name))


def code_review(paths: list[str], max_issues: int = 0) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """ruff over ``paths`` -> (flat metrics, issue list). passed when issues <= max_issues."""
    cmd = [_tool("ruff"), "check", "--output-format", "json", "--exit-zero", *paths]
    proc = subprocess.run(cmd, capture_output=True, text=True)  # noqa: S603  # nosec B603
    if proc.returncode != 0:
        raise RuntimeError(f"ruff failed: {proc.stderr.strip()}")
    issues = json.loads(proc.stdout or "[]")
    rules = {i.get("code") for i in issues}
    return {"n_issues": len(issues), "n_rules": len(rules), "passed": len(issues) <= max_issues}, issues


def security_scan(paths: list[str], fail_on: str = "HIGH") -> tuple[dict[str, Any], dict[str, Any]]:
    """bandit (offline) over ``paths`` -> (flat metrics, bandit's JSON report)."""
    proc = subprocess.run([_tool("bandit"), "-r", "-q", "-f", "json", *paths], capture_output=True, text=True)  # noqa: S603  # nosec B603
    if proc.returncode not in (0, 1):  # 1 means "issues found", not a crash
        raise RuntimeError(f"bandit failed: {proc.stderr.strip()}")
    report = json.loads(proc.stdout)
    sev = [r["issue_severity"] for r in report.get("results", [])]
    m = {"high": sev.count("HIGH"), "medium": sev.count("MEDIUM"), "low": sev.count("LOW")}
    order = ["LOW", "MEDIUM", "HIGH"]
    blocking = sum(m[s.lower()] for s in order[order.index(fail_on.upper()) :])
    return {**m, "n_issues": len(sev), "passed": blocking == 0}, report


def latency_test(
    model_path: str | Path, n_runs: int = 200, batch: int = 1, max_p99_ms: float = 50.0, threads: int = 1
) -> dict[str, Any]:
    """Inference latency of a model (.pt2 export or .pt checkpoint) on random windows.

    tests_pass requires finite outputs that are valid probabilities and p99 <= max_p99_ms.
    """
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    p = Path(model_path)
    fn: Any
    if p.suffix == ".pt2":
        fn = torch.export.load(str(p)).module()
        n_feat = 6
    else:
        from slashmake_ml.model import load_checkpoint

        fn, _ = load_checkpoint(str(p))
        n_feat = fn.cfg.n_features
    x = torch.randn(batch, 105, n_feat, generator=torch.Generator().manual_seed(0))  # (B, T, F)
    times = []
    with torch.no_grad():
        for _ in range(10):  # warm-up: first calls allocate
            out = fn(x)
        for _ in range(n_runs):
            t0 = time.perf_counter()
            out = fn(x)
            times.append((time.perf_counter() - t0) * 1e3)
    proba = torch.softmax(out, -1)
    valid = bool(torch.isfinite(out).all()) and bool(torch.allclose(proba.sum(-1), torch.ones(batch)))
    p50, p99 = float(np.percentile(times, 50)), float(np.percentile(times, 99))
    return {
        "p50_ms": p50,
        "p99_ms": p99,
        "mean_ms": float(np.mean(times)),
        "batch": batch,
        "n_runs": n_runs,
        "max_p99_ms": max_p99_ms,
        "outputs_valid": valid,
        "tests_pass": valid and p99 <= max_p99_ms,
    }


def notify(
    message: str,
    log_path: str | Path,
    level: str = "info",
    extra: dict[str, Any] | None = None,
    timeout: float = 5.0,
) -> dict[str, Any]:
    """Append a notification to a JSONL log; POST it to $SLASHMAKE_WEBHOOK_URL when set.

    The URL comes only from the environment (never from parameters, which Snakemake stores).
    A failed POST is recorded, not raised: a notification must not break the flow.
    """
    from slashmake_ml.ledger import append

    row = append(log_path, "notify", {}, message=message, level=level, **(extra or {}))
    url = os.environ.get(WEBHOOK_ENV, "")
    result: dict[str, Any] = {"logged": True, "webhook_configured": bool(url), "posted": False, "status": 0}
    if url:
        if not url.startswith(("http://", "https://")):
            result["error"] = "webhook URL must be http(s)"
            return result
        body = json.dumps({"text": message, "level": level, "time": row["time"], **(extra or {})}).encode()
        req = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # nosec B310 - scheme checked above
                result["status"] = int(resp.status)
                result["posted"] = 200 <= resp.status < 300
        except OSError as e:
            result["error"] = str(e)[:200]
    return result
