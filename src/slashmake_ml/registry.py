"""A numbered model registry on the filesystem, versioned with DVC.

    <root>/<name>/v0001/{model.pt2, state_dict.pt, model_card.json}
    <root>/<name>/CURRENT          the live version ("v0001"), replaced atomically
    <root>/<name>/history.jsonl    every deploy / no-op / rollback
    <root>/.dvc/                   a DVC project (``dvc init --no-scm``) whose default remote
                                   is a local folder; each version is ``dvc add``-ed and pushed

A version is built in a temp folder beside the versions and renamed into place, so a reader
never sees a half-written version; CURRENT moves only after the rename (and the DVC push).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess  # nosec B404 - runs the dvc CLI with fixed argument lists
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from slashmake_ml.fileio import atomic_write_text, read_json, sha256_file, write_json

_VERSION_RE = re.compile(r"^v(\d{4,})$")


class RegistryError(RuntimeError):
    """A registry operation could not be completed."""


def versions(root: str | Path, name: str) -> list[str]:
    """Published versions of ``name``, oldest first."""
    d = Path(root) / name
    if not d.is_dir():
        return []
    # A version whose folder is missing locally but tracked by DVC (vNNNN.dvc) still exists:
    # rollback can restore it from the remote.
    names = {p.name for p in d.iterdir() if p.is_dir()} | {p.name[:-4] for p in d.glob("v*.dvc")}
    return sorted((n for n in names if _VERSION_RE.match(n)), key=lambda v: int(v[1:]))


def current(root: str | Path, name: str) -> str | None:
    """The live version, or None for an empty registry."""
    p = Path(root) / name / "CURRENT"
    return p.read_text().strip() or None if p.exists() else None


def card(root: str | Path, name: str, version: str) -> dict[str, Any]:
    """The model card of one version."""
    return dict(read_json(Path(root) / name / version / "model_card.json"))


def _card_or_empty(root: Path, name: str, version: str) -> dict[str, Any]:
    try:
        return card(root, name, version)
    except (OSError, ValueError):
        return {}


@contextmanager
def _locked(root: Path, name: str) -> Iterator[None]:
    (root / name).mkdir(parents=True, exist_ok=True)
    fd = os.open(root / name / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # one publisher/rollback at a time per model name
        yield
    finally:
        os.close(fd)


def _event(root: Path, name: str, **fields: Any) -> dict[str, Any]:
    row = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **fields}
    with open(root / name / "history.jsonl", "a") as fh:
        fh.write(json.dumps(row, sort_keys=True) + "\n")
    return row


def _set_current(root: Path, name: str, version: str) -> None:
    atomic_write_text(root / name / "CURRENT", version + "\n")


# --- DVC ---------------------------------------------------------------------------------


def _dvc(root: Path, *args: str) -> str:
    exe = shutil.which("dvc") or str(Path(sys.executable).with_name("dvc"))
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run([exe, *args], cwd=root, env=env, capture_output=True, text=True)  # noqa: S603  # nosec B603
    if proc.returncode != 0:
        raise RegistryError(f"dvc {' '.join(args)} failed in {root}:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def ensure_dvc(root: Path, remote: Path) -> None:
    """``dvc init --no-scm`` the registry root once, and point its default remote at ``remote``."""
    if not (root / ".dvc").is_dir():
        _dvc(root, "init", "--no-scm", "-q")
    remote.mkdir(parents=True, exist_ok=True)
    _dvc(root, "remote", "add", "--force", "--default", "local", str(remote.resolve()))


def dvc_track(root: Path, name: str, version: str) -> None:
    """``dvc add`` one version folder and ``dvc push`` it to the default remote."""
    target = f"{name}/{version}"
    _dvc(root, "add", "-q", target)
    _dvc(root, "push", "-q", f"{target}.dvc")


# --- export --------------------------------------------------------------------------------


def export_program(ckpt_path: str | Path, out: str | Path) -> None:
    """torch.export the checkpoint's SimpleLSTM with a dynamic batch dim; save as .pt2."""
    import warnings

    import torch

    from slashmake_ml.model import load_checkpoint

    model, _ = load_checkpoint(str(ckpt_path))
    T = 105
    example = torch.zeros(2, T, model.cfg.n_features)
    batch = torch.export.Dim("batch", min=1, max=65536)
    # Traced for inference (no autograd): the LSTM's symbolic batch then costs 5.4 s of CPU, not 7.6 s.
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # LSTM flat-weights notice; harmless for inference
        ep = torch.export.export(model, (example,), dynamic_shapes={"x": {0: batch}})
    torch.export.save(ep, str(out))


def model_sha256(ckpt_path: str | Path) -> str:
    """Canonical hash of a checkpoint's weights (independent of pickling details)."""
    import torch

    from slashmake_ml.model import state_dict_sha256

    ckpt = torch.load(str(ckpt_path), map_location="cpu", weights_only=True)
    return state_dict_sha256(ckpt["state_dict"])


# --- publish / rollback --------------------------------------------------------------------


def publish(
    root: str | Path,
    name: str,
    ckpt_path: str | Path,
    eval_metrics: dict[str, Any] | None = None,
    dvc_remote: str | Path | None = "dvc-remote",
    stage: str = "production",
) -> dict[str, Any]:
    """Deploy a checkpoint as the next version (or do nothing if it is already deployed).

    Returns flat metrics: deployed, new_version, version, model_sha256, noop, dvc_pushed.
    """
    rootp = Path(root)
    rootp.mkdir(parents=True, exist_ok=True)
    digest = model_sha256(ckpt_path)
    with _locked(rootp, name):
        cur = current(rootp, name)
        for v in versions(rootp, name):
            if _card_or_empty(rootp, name, v).get("model_sha256") == digest:
                # Same weights already published: no new version (idempotent deploy).
                action = "noop" if v == cur else "redeploy"
                if v != cur:
                    _set_current(rootp, name, v)
                _event(rootp, name, action=action, version=v, model_sha256=digest, previous=cur)
                return {
                    "deployed": True,
                    "new_version": False,
                    "noop": action == "noop",
                    "redeploy": action == "redeploy",
                    "version": v,
                    "model_sha256": digest,
                    "dvc_pushed": False,
                    "stage": stage,
                }
        nums = [int(v[1:]) for v in versions(rootp, name)]
        version = f"v{(max(nums) if nums else 0) + 1:04d}"
        staging = Path(
            tempfile.mkdtemp(prefix=".staging-", dir=rootp / name)
        )  # same filesystem as the target
        try:
            import torch

            ckpt = torch.load(str(ckpt_path), map_location="cpu", weights_only=True)
            torch.save(ckpt, staging / "state_dict.pt")
            export_program(ckpt_path, staging / "model.pt2")
            files = {f: sha256_file(staging / f) for f in ("model.pt2", "state_dict.pt")}
            write_json(
                staging / "model_card.json",
                {
                    "name": name,
                    "version": version,
                    "stage": stage,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "model_sha256": digest,
                    "files": files,
                    "source_checkpoint": str(Path(ckpt_path).resolve()),
                    "model_config": ckpt.get("model_config"),
                    "feature_version": ckpt.get("feature_version"),
                    "torch_version": torch.__version__,
                    "eval_metrics": eval_metrics or {},
                    "previous": cur,
                    "intended_use": "Classify 105-bar OHLC windows as consolidation (0) or retracement (1).",
                },
            )
            os.chmod(staging, 0o755)
            os.rename(staging, rootp / name / version)  # atomic: the version appears complete or not at all
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        pushed = False
        if dvc_remote:
            ensure_dvc(rootp, Path(dvc_remote))
            dvc_track(rootp, name, version)
            pushed = True
        _set_current(rootp, name, version)
        _event(rootp, name, action="deploy", version=version, model_sha256=digest, previous=cur)
    return {
        "deployed": True,
        "new_version": True,
        "noop": False,
        "redeploy": False,
        "version": version,
        "model_sha256": digest,
        "dvc_pushed": pushed,
        "stage": stage,
    }


def verify(root: str | Path, name: str, version: str) -> bool:
    """True when every file of ``version`` matches the sha256 in its model card."""
    d = Path(root) / name / version
    try:
        files = card(root, name, version)["files"]
        return all((d / f).exists() and sha256_file(d / f) == h for f, h in files.items())
    except (OSError, KeyError, ValueError):
        return False


def rollback(root: str | Path, name: str, use_dvc: bool = True) -> dict[str, Any]:
    """Make the version before CURRENT live again, after checking its files by sha256.

    If its files are missing or corrupt and the registry is DVC-tracked, they are restored
    with ``dvc checkout``/``dvc pull`` first. With nothing to roll back to, reports
    rolled_back=false (not an error: an empty registry has nothing to restore).
    """
    rootp = Path(root)
    with _locked(rootp, name):
        cur = current(rootp, name)
        older = [v for v in versions(rootp, name) if cur is None or int(v[1:]) < int(cur[1:])]
        if not older:
            _event(rootp, name, action="rollback-skipped", version=cur)
            return {"rolled_back": False, "version": cur or "", "previous": cur or "", "sha256_ok": False}
        target = older[-1]
        ok = verify(rootp, name, target)
        if not ok and use_dvc and (rootp / ".dvc").is_dir() and (rootp / name / f"{target}.dvc").exists():
            try:
                _dvc(rootp, "checkout", "-q", "--force", f"{name}/{target}.dvc")
            except RegistryError:
                _dvc(rootp, "pull", "-q", "--force", f"{name}/{target}.dvc")
            ok = verify(rootp, name, target)
        if not ok:
            raise RegistryError(
                f"{name}/{target}: files do not match their model card sha256; not rolling back"
            )
        _set_current(rootp, name, target)
        _event(rootp, name, action="rollback", version=target, previous=cur)
        return {
            "rolled_back": True,
            "version": target,
            "previous": cur or "",
            "sha256_ok": True,
            "model_sha256": card(rootp, name, target)["model_sha256"],
        }
