"""The programs compiled rules run: gate decisions, joins and retried attempts."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from slashmake.runtime import StepFailure, decide, main, read_metric


@pytest.mark.parametrize(("value", "op", "threshold", "taken"), [
    (0.9, ">", "0.87", True), (0.87, ">", "0.87", False), (0.87, ">=", "0.87", True),
    (3, "<", "4", True), (True, "==", "true", True), ("false", "!=", "true", True),
    (True, "truthy", None, True), (0, "truthy", None, False), (float("nan"), "truthy", None, False),
])
def test_decide(value: object, op: str, threshold: object, taken: bool) -> None:
    assert decide(value, op, threshold) is taken


def test_a_nan_metric_cannot_pass_a_comparison() -> None:
    with pytest.raises(StepFailure, match="NaN"):
        decide(float("nan"), ">", "0.5")


def test_read_metric_names_file_and_key(tmp_path: Path) -> None:
    m = tmp_path / "metrics.json"
    with pytest.raises(StepFailure, match=r"metrics\.json is missing \(looking for 'acc'\)"):
        read_metric(m, "acc")
    m.write_text("{not json")
    with pytest.raises(StepFailure, match=r"not valid JSON.*'acc'"):
        read_metric(m, "acc")
    m.write_text(json.dumps({"drift-detected": True, "accuracy": 0.9}))
    with pytest.raises(StepFailure, match=r"no key 'acc' \(it has: accuracy, drift-detected\)"):
        read_metric(m, "acc")
    assert read_metric(m, "drift_detected") is True  # `-` and `_` are the same


def test_gate_writes_the_decision(tmp_path: Path) -> None:
    m, out = tmp_path / "m.json", tmp_path / "d.json"
    m.write_text(json.dumps({"accuracy": 0.91}))
    assert main(["gate", "--metrics", str(m), "--key", "accuracy", "--op", ">", "--threshold", "0.87",
                 "--out", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d == {"branch": "then", "metric": "accuracy", "value": 0.91, "op": ">", "threshold": "0.87",
                 "source": str(m)}


def test_gate_on_a_missing_metric_fails_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "d.json"
    rc = main(["gate", "--metrics", str(tmp_path / "nope.json"), "--key", "acc", "--op", ">", "--threshold", "1",
               "--out", str(out)])
    assert rc == 1 and not out.exists() and "nope.json is missing" in capsys.readouterr().err


def _attempt(tmp_path: Path, script: str, *extra: str) -> int:
    return main(["attempt", "--log", str(tmp_path / "log.txt"), *extra, "--", sys.executable, "-c", script])


def test_attempt_retries_with_doubling_backoff(tmp_path: Path) -> None:
    counter = tmp_path / "n"
    script = (f"import pathlib,sys; p=pathlib.Path({str(counter)!r}); n=int(p.read_text() if p.exists() else 0)+1;"
              " p.write_text(str(n)); sys.exit(0 if n == 3 else 1)")
    assert _attempt(tmp_path, script, "--retries", "2", "--backoff", "0.3") == 0
    starts = [float(t) for t in re.findall(r"started at ([\d.]+)", (tmp_path / "log.txt").read_text())]
    assert len(starts) == 3
    assert starts[1] - starts[0] >= 0.3 and starts[2] - starts[1] >= 0.6


def test_attempt_gives_up_with_the_last_exit_code(tmp_path: Path) -> None:
    assert _attempt(tmp_path, "import sys; sys.exit(5)", "--retries", "1") == 5


def test_a_try_publishes_only_on_success(tmp_path: Path) -> None:
    stage, publish, status = tmp_path / "s/.staging", tmp_path / "s", tmp_path / "s/status.json"
    write = f"import pathlib; pathlib.Path({str(stage / 'model.pt')!r}).write_text('w')"
    args = ["--status", str(status), "--stage", str(stage), "--publish", str(publish), "--label", "failed"]
    assert _attempt(tmp_path, write, *args) == 0
    assert (publish / "model.pt").read_text() == "w" and not stage.exists()
    assert json.loads(status.read_text())["branch"] == "else"
    (publish / "model.pt").unlink()
    fail = write + "; import sys; print('boom', file=sys.stderr); sys.exit(4)"
    assert _attempt(tmp_path, fail, *args) == 0  # the rule succeeds so the checkpoint can read the status
    s = json.loads(status.read_text())
    assert s["success"] is False and s["branch"] == "catch" and s["exit_code"] == 4 and "boom" in s["stderr_tail"]
    assert not (publish / "model.pt").exists() and not stage.exists()


def test_a_negative_backoff_never_crashes_the_retry_helper(tmp_path: Path) -> None:
    counter = tmp_path / "n"
    script = (f"import pathlib,sys; p=pathlib.Path({str(counter)!r}); n=int(p.read_text() if p.exists() else 0)+1;"
              " p.write_text(str(n)); sys.exit(0 if n == 2 else 1)")
    assert _attempt(tmp_path, script, "--retries", "1", "--backoff", "-5") == 0
    assert counter.read_text() == "2"  # two attempts, no wait, no ValueError from time.sleep


def test_a_try_counts_the_attempts_it_made(tmp_path: Path) -> None:
    counter, status = tmp_path / "n", tmp_path / "s/status.json"
    script = (f"import pathlib,sys; p=pathlib.Path({str(counter)!r}); n=int(p.read_text() if p.exists() else 0)+1;"
              " p.write_text(str(n)); sys.exit(0 if n == 2 else 1)")
    args = ["--status", str(status), "--stage", str(tmp_path / "s/.staging"), "--publish", str(tmp_path / "s")]
    assert _attempt(tmp_path, script, "--retries", "4", *args) == 0
    s = json.loads(status.read_text())
    assert (s["success"], s["attempts"], s["attempts_allowed"]) == (True, 2, 5)


# -- gates on a bad metrics file: `slashmake run` itself says what is wrong, and where -----------------
@pytest.mark.slow
@pytest.mark.parametrize(("content", "says"), [
    ("not json", r"is not valid JSON \(Expecting value: line 1 column 1 \(char 0\)\); looking for 'acc'"),
    ("[1, 2]", r"must hold a JSON object, not list; looking for 'acc'"),
    ('{{"loss": 1}}', r"has no key 'acc' \(it has: loss\)"),
], ids=["not-json", "not-an-object", "no-key"])
def test_a_gate_on_a_bad_metrics_file_fails_the_run_naming_file_key_and_step(toy, content: str, says: str) -> None:  # type: ignore[no-untyped-def]
    toy.command("a", metrics={"acc": "1"}, shell=f"printf %s '{content}' > {{output.metrics}} && touch {{output.report}}")
    toy.command("b")
    proc = toy.slashmake("run", "/a → /if:acc>0.5 → /b → /end", check=False)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    key = next((toy.root / "results/steps").glob("a-*")).name
    first = re.search(rf"^Error: gate-acc failed: metrics file results/steps/{key}/metrics\.json (.*)$", proc.stderr, re.M)
    assert first, proc.stderr[-3000:]
    assert re.fullmatch(says + rf" \(written by /a, step {key}\)", first.group(1)), first.group(1)
    assert re.search(r"^  \(log: logs/steps/gate-acc-[0-9a-f]{8}\.log\)$", proc.stderr, re.M), proc.stderr[-2000:]
    assert toy.ran() == [] and not list((toy.root / "results/steps").glob("b-*"))
    assert not list((toy.root / "results/steps").glob("gate-acc-*/decision.json"))
