"""Model registry: atomic publish, idempotent deploy, rollback by hash, DVC restore."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from slashmake_ml import registry as reg
from slashmake_ml.config import ModelConfig
from slashmake_ml.fileio import sha256_file
from slashmake_ml.model import SimpleLSTM, save_checkpoint

REPO = Path(__file__).resolve().parents[1]
NAME = "simple_lstm"


def make_ckpt(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    save_checkpoint(str(path), SimpleLSTM(ModelConfig()))
    return path


def deploy(tmp: Path, ckpt: Path, remote: str = "") -> dict[str, object]:
    out = tmp / "dep.json"
    r = subprocess.run(
        [
            sys.executable,
            "-m", "slashmake_ml.scripts.deploy",
            f"--model={ckpt}",
            f"--registry={tmp}/registry",
            f"--dvc-remote={remote}",
            f"--metrics={out}",
            f"--record={tmp}/rec.json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return dict(json.loads(out.read_text()))


def test_deploy_is_idempotent_and_versions_are_numbered(tmp_path: Path) -> None:
    """Slow (about 40 s): three real deploys, each a torch.export of the model (seconds each) and a DVC push."""
    a = make_ckpt(tmp_path / "a.pt", 1)
    first = deploy(tmp_path, a)
    again = deploy(tmp_path, a)
    assert first["new_version"] is True and first["version"] == "v0001"
    assert again["new_version"] is False and again["noop"] is True and again["version"] == "v0001"
    assert reg.versions(tmp_path / "registry", NAME) == ["v0001"]
    history = (tmp_path / "registry" / NAME / "history.jsonl").read_text().splitlines()
    assert [json.loads(h)["action"] for h in history] == ["deploy", "noop"]
    b = deploy(tmp_path, make_ckpt(tmp_path / "b.pt", 2))
    assert b["version"] == "v0002" and reg.current(tmp_path / "registry", NAME) == "v0002"
    d = tmp_path / "registry" / NAME / "v0002"
    assert {p.name for p in d.iterdir()} == {"model.pt2", "state_dict.pt", "model_card.json"}
    card = json.loads((d / "model_card.json").read_text())
    assert card["files"]["model.pt2"] == sha256_file(d / "model.pt2") and card["previous"] == "v0001"


def test_publish_is_atomic_when_export_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "registry"
    reg.publish(root, NAME, make_ckpt(tmp_path / "a.pt", 1), dvc_remote=None)

    def boom(ckpt: object, out: Path) -> None:
        Path(out).write_bytes(b"partial")  # a half-written file inside the staging folder
        raise RuntimeError("export crashed")

    monkeypatch.setattr(reg, "export_program", boom)
    with pytest.raises(RuntimeError, match="export crashed"):
        reg.publish(root, NAME, make_ckpt(tmp_path / "b.pt", 2), dvc_remote=None)
    assert reg.versions(root, NAME) == ["v0001"] and reg.current(root, NAME) == "v0001"
    assert not [p for p in (root / NAME).iterdir() if p.name.startswith(".staging")]


def test_exported_program_matches_checkpoint(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    res = reg.publish(root, NAME, make_ckpt(tmp_path / "a.pt", 3), dvc_remote=None)
    d = root / NAME / str(res["version"])
    prog = torch.export.load(str(d / "model.pt2")).module()
    from slashmake_ml.model import load_checkpoint

    model, _ = load_checkpoint(str(d / "state_dict.pt"))
    x = torch.randn(5, 105, 6)  # a batch size other than the export example's
    with torch.no_grad():
        assert torch.allclose(prog(x), model(x), atol=1e-5)
    # exported for inference, it serves a caller that has autograd on just the same
    assert torch.allclose(prog(x[:1]).detach(), model(x[:1]).detach(), atol=1e-5)


def test_rollback_restores_previous_version_by_hash_and_dvc_pull_restores_a_fresh_copy(
    tmp_path: Path,
) -> None:
    remote = str(tmp_path / "dvc-remote")
    v1 = deploy(tmp_path, make_ckpt(tmp_path / "a.pt", 1), remote)
    v2 = deploy(tmp_path, make_ckpt(tmp_path / "b.pt", 2), remote)
    assert v1["dvc_pushed"] is True and v2["version"] == "v0002"
    root = tmp_path / "registry"
    assert (root / ".dvc").is_dir() and (root / NAME / "v0001.dvc").exists()
    # Lose v0001's files locally: rollback must restore them from DVC and check the hash.
    shutil.rmtree(root / NAME / "v0001")
    r = subprocess.run(
        [sys.executable, "-m", "slashmake_ml.scripts.rollback", f"--registry={root}", f"--metrics={tmp_path}/rb.json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    rb = json.loads((tmp_path / "rb.json").read_text())
    assert rb["rolled_back"] is True and rb["version"] == "v0001" and rb["sha256_ok"] is True
    assert rb["model_sha256"] == v1["model_sha256"] and reg.current(root, NAME) == "v0001"
    # A fresh copy holding only DVC metadata gets the deployed model back with `dvc pull`.
    fresh = tmp_path / "fresh"
    shutil.copytree(root, fresh, ignore=shutil.ignore_patterns("v0*[0-9]", "cache", "tmp"))
    assert not (fresh / NAME / "v0002").exists()
    dvc = shutil.which("dvc") or str(Path(sys.executable).with_name("dvc"))
    p = subprocess.run([dvc, "pull", "-q"], cwd=fresh, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    for v in ("v0001", "v0002"):
        assert reg.verify(fresh, NAME, v)
        assert sha256_file(fresh / NAME / v / "model.pt2") == sha256_file(root / NAME / v / "model.pt2")


def test_rollback_with_nothing_to_restore_reports_false(tmp_path: Path) -> None:
    assert reg.rollback(tmp_path / "registry", NAME)["rolled_back"] is False
