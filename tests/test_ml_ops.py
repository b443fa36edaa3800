"""Ops steps: notifications (log + webhook from the environment), latency test, code review."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import torch

from slashmake_ml.config import ModelConfig
from slashmake_ml.model import SimpleLSTM, save_checkpoint

REPO = Path(__file__).resolve().parents[1]


def test_notify_logs_and_posts_to_env_webhook(tmp_path: Path) -> None:
    got: list[dict[str, object]] = []

    class H(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a: object) -> None:
            pass

    srv = HTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.handle_request, daemon=True).start()
    env = {**os.environ, "SLASHMAKE_WEBHOOK_URL": f"http://127.0.0.1:{srv.server_port}/hook"}
    log = tmp_path / "notes.jsonl"
    r = subprocess.run(
        [
            sys.executable,
            "-m", "slashmake_ml.scripts.notify",
            "--message",
            "deployed v0003",
            f"--log={log}",
            f"--metrics={tmp_path}/m.json",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    srv.server_close()
    assert r.returncode == 0, r.stderr
    assert got and got[0]["text"] == "deployed v0003"
    assert json.loads((tmp_path / "m.json").read_text())["posted"] is True
    assert json.loads(log.read_text().splitlines()[0])["message"] == "deployed v0003"


def test_notify_without_webhook_only_logs(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SLASHMAKE_WEBHOOK_URL"}
    r = subprocess.run(
        [sys.executable, "-m", "slashmake_ml.scripts.notify", f"--log={tmp_path}/n.jsonl", f"--metrics={tmp_path}/m.json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["logged"] is True and m["posted"] is False and m["webhook_configured"] is False


def test_perf_test_reports_latency_and_tests_pass(tmp_path: Path) -> None:
    save_checkpoint(str(tmp_path / "m.pt"), SimpleLSTM(ModelConfig()))
    r = subprocess.run(
        [
            sys.executable,
            "-m", "slashmake_ml.scripts.perf_test",
            f"--model={tmp_path}/m.pt",
            "--n-runs",
            "30",
            f"--metrics={tmp_path}/p.json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "p.json").read_text())
    assert 0 < m["p50_ms"] <= m["p99_ms"] and isinstance(m["tests_pass"], bool)
    r = subprocess.run(
        [
            sys.executable,
            "-m", "slashmake_ml.scripts.perf_test",
            f"--model={tmp_path}/m.pt",
            "--n-runs",
            "30",
            "--max-p99-ms",
            "0.000001",
            f"--metrics={tmp_path}/p.json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads((tmp_path / "p.json").read_text())["tests_pass"] is False


def test_code_review_and_security_scan_write_json(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(
        "import os\nimport subprocess\ncmd = os.environ['X']\nsubprocess.call(cmd, shell=True)\n"
    )
    r = subprocess.run(
        [
            sys.executable,
            "-m", "slashmake_ml.scripts.code_review",
            "--paths",
            str(tmp_path),
            f"--report={tmp_path}/r.json",
            f"--metrics={tmp_path}/m.json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["n_issues"] >= 1 and m["passed"] is False
    r = subprocess.run(
        [
            sys.executable,
            "-m", "slashmake_ml.scripts.security_scan",
            "--paths",
            str(tmp_path / "bad.py"),
            f"--report={tmp_path}/b.json",
            f"--metrics={tmp_path}/s.json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["high"] >= 1 and s["passed"] is False
    assert torch is not None
