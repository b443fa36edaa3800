"""Shared fixtures: a throw-away slashmake project with toy commands, and ways to run it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from ml_project import MLProject, build_shared

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

pytest_plugins = ["tests.services"]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Make ``--dist loadgroup`` keep each ``xdist_group`` on one worker under pytest 9.

    pytest-xdist 3.8 marks a grouped test by appending ``@group`` to ``item._nodeid``, which pytest 9
    no longer reads (a node's id lives in ``item._id``): every group was silently spread over the
    workers, so the shared ML project was built twice and SLURM tests ran side by side. Until xdist
    catches up, this sets the suffix where pytest 9 reads it; it does nothing without loadgroup, and
    nothing where xdist's own suffix already took.

    It also hands out the ``slow`` tests first (xdist sends work in collection order, groups
    first): the second-long unit tests then fill the end of the run on both workers, instead of a
    minute-long end-to-end test starting last on one worker while the other sits idle.
    """
    if not getattr(config.option, "loadgroup", False):
        return
    from _pytest.nodeid import coerce_node_id

    for item in items:
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                        for m in item.iter_markers("xdist_group")})
        suffix = "@" + "_".join(names)
        if names and not item.nodeid.endswith(suffix):
            item._id = coerce_node_id(item.nodeid + suffix)  # type: ignore[attr-defined]
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: file order kept within each


#: What a run writes into its project: no test may write these into this checkout (a subprocess
#: started without ``cwd`` runs here and would add to the developer's own ledger and registry).
RUN_OUTPUTS = ("results", "logs", "registry", "dvc-remote")


def _run_outputs() -> dict[str, int]:
    """Every file under this checkout's run-output folders, with its mtime."""
    found: dict[str, int] = {}
    for top in RUN_OUTPUTS:
        for dirpath, _, files in os.walk(REPO / top):
            for name in files:
                path = os.path.join(dirpath, name)
                try:
                    found[path] = os.stat(path).st_mtime_ns
                except OSError:  # removed meanwhile
                    continue
    return found


@pytest.fixture(scope="session", autouse=True)
def _checkout_untouched() -> Iterator[None]:
    """Fail the session when a test wrote run outputs into this checkout instead of its own folder."""
    before = _run_outputs()
    yield
    written = sorted(p for p, mtime in _run_outputs().items() if before.get(p) != mtime)
    assert not written, f"tests wrote into the checkout (give the subprocess a cwd): {written[:10]}"


class ToyProject:
    """A project folder with the real Snakefile and toy commands that write metrics JSON."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.trace = root / "trace.jsonl"
        shutil.copy(REPO / "Snakefile", root / "Snakefile")
        (root / "rules").mkdir()
        shutil.copy(REPO / "rules/common.smk", root / "rules/common.smk")
        (root / "config/profiles/default").mkdir(parents=True)
        for rel in ("config/config.yaml", "config/schema.yaml", "config/profiles/default/config.yaml"):
            shutil.copy(REPO / rel, root / rel)
        os.symlink("config/profiles", root / "profiles")
        shutil.copy(REPO / "tests/toy/toy_step.py", root / "toy_step.py")
        (root / "workflow/commands").mkdir(parents=True)

    def command(self, name: str, *, params: dict[str, Any] | None = None, metrics: dict[str, str] | None = None,
                output: dict[str, str] | None = None, inputs: list[str] | None = None, needs: list[str] | None = None,
                shell: str | None = None, flow: str | None = None, body: str = "", **extra: Any) -> Path:
        """Write a toy command. ``metrics`` maps metric key -> the shell expression of its value."""
        sm: dict[str, Any] = dict(extra)
        if flow is not None:
            sm["flow"] = flow
        else:
            sm["params"] = params or {}
            if needs:
                sm["needs"] = needs
            if inputs:
                sm["input"] = inputs
            sm["output"] = output if output is not None else {"report": "report.json"}
            if metrics is not None:
                sm["metrics"] = {"file": "metrics.json", "keys": list(metrics)}
            if shell is None:
                parts = [f"python toy_step.py {name}"]
                if sm["output"]:
                    parts.append("--out " + " ".join(f"{{output.{k}}}" for k in sm["output"]))
                if metrics is not None:
                    parts.append("--metrics {output.metrics}")
                    parts += [f"--set {k}={v}" for k, v in metrics.items()]
                if inputs:
                    parts.append("--inputs " + " ".join(f"{{input.{i}}}" for i in inputs))
                parts.append("-- {params.arguments}")
                shell = " ".join(parts)
            sm["shell"] = shell
        path = self.root / "workflow/commands" / f"{name}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        front = yaml.safe_dump({"description": f"toy {name}", "slashmake": sm}, sort_keys=False, allow_unicode=True)
        path.write_text(f"---\n{front}---\n{body}\n")
        return path

    def config(self, **updates: Any) -> None:
        path = self.root / "config/config.yaml"
        data = yaml.safe_load(path.read_text()) or {}
        data.update(updates)
        path.write_text(yaml.safe_dump(data))

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["TOY_TRACE"] = str(self.trace)
        env["PATH"] = str(Path(PYTHON).parent) + os.pathsep + env.get("PATH", "")
        return env

    def slashmake(self, *args: str, check: bool = True, input: str | None = None,
                  timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run the real CLI in the project."""
        proc = subprocess.run([PYTHON, "-m", "slashmake.interfaces.cli", *args], cwd=self.root, text=True, capture_output=True,
                              env=self.env(), input=input, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"slashmake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                                 f"{proc.stderr[-3000:]}")
        return proc

    def snakemake(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run plain `snakemake` in the project."""
        proc = subprocess.run([PYTHON, "-m", "snakemake", *args], cwd=self.root, text=True, capture_output=True,
                              env=self.env(), timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def records(self) -> list[dict[str, Any]]:
        """The trace's records (step, args, inputs, t) since the last ``ran()``, without consuming them."""
        if not self.trace.exists():
            return []
        return [json.loads(line) for line in self.trace.read_text().splitlines() if line.strip()]

    def ran(self) -> list[str]:
        """Names of the toy steps that ran, in order, since the last call (the trace is consumed)."""
        if not self.trace.exists():
            return []
        names = [json.loads(line)["step"] for line in self.trace.read_text().splitlines() if line.strip()]
        self.trace.unlink()
        return names


@pytest.fixture
def toy(tmp_path: Path) -> ToyProject:
    """An empty toy project in a temporary folder."""
    root = tmp_path / "proj"
    root.mkdir()
    return ToyProject(root)


@pytest.fixture
def toy_factory(tmp_path: Path) -> Callable[[str], ToyProject]:
    """Several toy projects, by name."""

    def make(name: str) -> ToyProject:
        root = tmp_path / name
        root.mkdir()
        return ToyProject(root)

    return make


@pytest.fixture(scope="session")
def ml_shared(tmp_path_factory: pytest.TempPathFactory) -> MLProject:
    """The Moola project that tests/test_pipeline_e2e.py and tests/test_compare_e2e.py share (their
    ``ml-shared-project`` group, on one worker): /ml-pipeline-full, the sweep, and a second pipeline
    run with one parameter changed, built once (tests/ml_project.py ``build_shared``)."""
    return build_shared(tmp_path_factory.mktemp("ml-shared") / "proj")
