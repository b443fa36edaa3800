"""The Moola project the ML end-to-end tests run in: a copy of this repository's project files with
tiny budgets (config ``params:`` overrides), driven through the real CLI.

``build_shared`` makes the one project that tests/test_pipeline_e2e.py and tests/test_compare_e2e.py
share (conftest's session fixture ``ml_shared``): the costly runs they both read are done once.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
MODEL = "simple_lstm"

# The default labelled and test sets (the acceptance data: /ml-pipeline-full must pass its gate on
# them); everything that pre-trains or sweeps runs with a small budget. Each training run takes a
# few seconds on one core.
TINY: dict[str, Any] = {
    "n_unlabelled": 400,           # the pre-training corpus (the default is 4,000)
    "pretrain_steps": 30,          # /train, /runpod-hpo, /train-and-test (sweep variants)
    "pretrain-bilstm.steps": 30,
    "train.steps": 60,
    "fine-tune-simplelstm.steps": 60,
    "retrain.steps": 60,
    "n_trials": 1,
    "hyperparameter-tune.steps": 40,
    "n_runs": 20,                  # /performance-test, /benchmark
    "n_current": 120,              # drift batches (/data-refresh trains on them)
}


class MLProject:
    """A copy of the repository's project (no compiled rules, results or registry)."""

    def __init__(self, root: Path, params: dict[str, Any] | None = None) -> None:
        self.root = root
        root.mkdir(parents=True)
        shutil.copy(REPO / "Snakefile", root / "Snakefile")
        (root / "rules").mkdir()
        shutil.copy(REPO / "rules/common.smk", root / "rules/common.smk")
        shutil.copytree(REPO / "config", root / "config")
        os.symlink("config/profiles", root / "profiles")
        shutil.copytree(REPO / "workflow/commands", root / "workflow/commands")
        shutil.copytree(REPO / "droids", root / "droids")
        self.set_params({**TINY, **(params or {})})

    def set_params(self, params: dict[str, Any]) -> None:
        path = self.root / "config/config.yaml"
        cfg = yaml.safe_load(path.read_text()) or {}
        cfg["params"] = params
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PATH"] = str(Path(PYTHON).parent) + os.pathsep + env.get("PATH", "")
        env["DVC_NO_ANALYTICS"] = "1"
        return env

    def argv(self, *args: str) -> list[str]:
        return [PYTHON, "-m", "slashmake.interfaces.cli", *args]

    def slashmake(self, *args: str, check: bool = True, timeout: float = 400) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(self.argv(*args), cwd=self.root, text=True, capture_output=True, env=self.env(),
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"slashmake {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
        return proc

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """Start `slashmake` in its own process group (so the whole run can be killed)."""
        out = open(self.root / "popen.log", "a")  # noqa: SIM115 - closed by the child's exit
        return subprocess.Popen(self.argv(*args), cwd=self.root, text=True, stdout=out, stderr=subprocess.STDOUT,
                                env=self.env(), start_new_session=True)

    # -- reading results -------------------------------------------------------------------
    def steps(self, command: str) -> list[Path]:
        """Step folders of a command (results/steps/<command>-<8 hex>)."""
        return sorted(p for p in (self.root / "results/steps").glob(f"{command}-*")
                      if re.fullmatch(rf"{re.escape(command)}-[0-9a-f]{{8}}", p.name))

    def index(self, flow: str) -> dict[str, Any]:
        return json.loads((self.root / "results" / flow / "index.json").read_text())

    def step_of(self, flow: str, label: str, nth: int | None = None) -> Path:
        """The folder of the step labelled ``label`` in a flow's index (the nth, when it occurs more than once)."""
        hits = [s for s in self.index(flow)["steps"] if s["label"] == label]
        assert len(hits) == 1 or nth is not None, f"{label} in {flow}: {[s['label'] for s in self.index(flow)['steps']]}"
        return self.root / hits[nth or 0]["folder"]

    def inputs_of(self, flow: str, folder: Path) -> str:
        """The input section of the compiled rule that writes into a step folder: what the step reads.

        ``rules.<name>.output.<key>`` references are replaced by the paths they name (a rule may
        live in another compiled file when flows share the step).
        """
        blocks = [b for f in sorted((self.root / "rules/compiled").glob("*.smk"))
                  for b in re.split(r"\n(?=rule |checkpoint )", f.read_text())]
        outputs: dict[tuple[str, str], str] = {}
        for b in blocks:
            m = re.match(r"(?:rule|checkpoint) (\w+):", b)
            if m and "output:" in b:
                section = b.split("output:", 1)[1].split("\n    log:", 1)[0]
                for key, path in re.findall(r'(\w+)=(?:report\(\s*)?"([^"]+)"', section):
                    outputs[(m.group(1), key)] = path
        for b in blocks:
            out = b.split("output:", 1)[1].split("\n    log:", 1)[0] if "output:" in b else ""
            if f"results/steps/{folder.name}/" in out:
                reads = b.split("input:", 1)[1].split("output:", 1)[0] if "input:" in b.split("output:", 1)[0] else ""
                return re.sub(r"rules\.(\w+)\.output\.(\w+)", lambda r: outputs.get((r.group(1), r.group(2)), r.group(0)),
                              reads)
        raise AssertionError(f"no rule writes {folder.name} in rules/compiled/")

    def metrics(self, folder: Path) -> dict[str, Any]:
        return json.loads((folder / "metrics.json").read_text())

    def decisions(self, flow: str) -> list[dict[str, Any]]:
        return [s["decision"] for s in self.index(flow)["steps"] if s["kind"] == "gate" and s.get("decision")]

    def ran(self, flow: str) -> set[str]:
        """Labels of the call steps of a flow whose metrics exist (i.e. that ran and finished)."""
        out = set()
        for s in self.index(flow)["steps"]:
            folder = self.root / s["folder"]
            if s["kind"] == "call" and ((folder / "metrics.json").exists() or any(folder.glob("*/metrics.json"))):
                out.add(s["label"])
        return out

    def flow_name(self, chain_output: str) -> str:
        """The flow folder an ad-hoc chain's run wrote (`chain-<hash>`): the newest one."""
        flows = sorted((self.root / "results").glob("chain-*/index.json"), key=lambda p: p.stat().st_mtime)
        assert flows, chain_output
        return flows[-1].parent.name

    # -- registry --------------------------------------------------------------------------
    @property
    def registry(self) -> Path:
        return self.root / "registry" / MODEL

    def current(self) -> str | None:
        p = self.registry / "CURRENT"
        return p.read_text().strip() if p.exists() else None

    def versions(self) -> list[str]:
        if not self.registry.is_dir():
            return []
        return sorted(p.name for p in self.registry.iterdir() if p.is_dir() and re.fullmatch(r"v\d{4,}", p.name))


    # -- the shared project's runs (set by build_shared) ---------------------------------------
    first: subprocess.CompletedProcess[str]
    hpo: subprocess.CompletedProcess[str]
    second: subprocess.CompletedProcess[str]
    restored: subprocess.CompletedProcess[str]
    after_pipeline: dict[str, Any]


def build_shared(root: Path) -> MLProject:
    """The shared project: a git repository (so runs record a commit) in which, in this order,

    1. ``/ml-pipeline-full --report report1.html`` ran on the default data (the registry then holds
       only v0001: ``after_pipeline``);
    2. ``/runpod-hpo-parallel`` swept 3 sigmas x 3 seeds;
    3. ``/ml-pipeline-full --report report2.html`` ran with one parameter changed
       (``ml-train.weight_decay`` 0.01 -> 0.02), so that two runs differ by it;
    4. the parameter was set back and ``/ml-pipeline-full`` ran again: nothing retrains, and the
       flow's index is the first run's configuration again.

    Minutes of real training on one worker; every test of the ``ml-shared-project`` group reads it.
    """
    proj = MLProject(root)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "project"], cwd=root, check=True)
    proj.first = proj.slashmake("run", "/ml-pipeline-full", "--report", "report1.html", timeout=900)
    proj.after_pipeline = {"current": proj.current(), "versions": proj.versions()}
    proj.hpo = proj.slashmake("run", "/runpod-hpo-parallel", timeout=900)
    proj.set_params({**TINY, "ml-train.weight_decay": 0.02})  # the one change between the two runs
    proj.second = proj.slashmake("run", "/ml-pipeline-full", "--report", "report2.html", timeout=900)
    proj.set_params(TINY)
    proj.restored = proj.slashmake("run", "/ml-pipeline-full", timeout=900)
    return proj
