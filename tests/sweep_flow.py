"""A slashmake sigma sweep on a toy project, for the executor tests (tests/test_runpod.py, tests/test_slurm.py).

The flow is compiled by slashmake, not written by hand: ``/train`` over sigma values, then
``/aggregate``, whose ``input: [where]`` is every variant's record. Each step runs the project's
toy_step.py with ``--where``, which records the user, working folder, host and SLURM job id of the
process that ran it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]

TRAIN_SHELL = ("python toy_step.py train --out {output.report} --where {output.where} --metrics {output.metrics}"
               " --set sigma={params.sigma} -- {params.arguments}")
AGGREGATE_SHELL = ("python toy_step.py aggregate --out {output.report} --where {output.where}"
                   " --metrics {output.metrics} --set n=1 --inputs {input.where} -- {params.arguments}")
MACRO = "sigma-sweep"
#: The target rule of the macro above (``snakemake … sigma_sweep``).
MACRO_TARGET = "sigma_sweep"


def sigmas(n: int) -> list[str]:
    """n sigma values: 0.01, 0.02, …"""
    return [f"{0.01 * (i + 1):.2f}" for i in range(n)]


def sweep_chain(values: list[str]) -> str:
    """``/train parallel[sigma-0.01 | …] → /aggregate``."""
    return "/train parallel[" + " | ".join(f"sigma-{v}" for v in values) + "] → /aggregate"


def write_sweep(toy: Any, values: list[str], *, macro: bool = False, train: dict[str, Any] | None = None) -> str:
    """Write the train and aggregate commands (and the macro, if asked) into a toy project; return the chain.

    ``train`` adds frontmatter keys under ``slashmake:`` to /train (``threads``, ``resources``,
    ``droid``).
    """
    toy.command("train", params={"sigma": 0.12}, output={"report": "report.json", "where": "where.json"},
                metrics={"sigma": "{params.sigma}"}, shell=TRAIN_SHELL, **(train or {}))
    toy.command("aggregate", inputs=["where"], output={"report": "report.json", "where": "where.json"},
                metrics={"n": "1"}, shell=AGGREGATE_SHELL)
    chain = sweep_chain(values)
    if macro:
        toy.command(MACRO, flow=chain)
    return chain


def write_droid(root: Path, name: str, resources: dict[str, Any]) -> Path:
    """A droid whose ``slashmake.resources`` are defaults for the commands it runs."""
    path = root / "droids" / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    front = {"name": name, "description": f"toy droid {name}", "tools": ["execute"],
             "slashmake": {"resources": resources}}
    path.write_text(f"---\n{yaml.safe_dump(front, sort_keys=False)}---\nRuns the sweep.\n")
    return path


def copy_profile(root: Path, name: str, **updates: Any) -> Path:
    """The repository's ``config/profiles/<name>`` in the toy project, with some keys added or changed."""
    data = yaml.safe_load((REPO / "config" / "profiles" / name / "config.yaml").read_text())
    data.update(updates)
    path = root / "config" / "profiles" / name / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def step_folder(root: Path, name: str) -> Path:
    """The one step folder of command ``name`` (``results/steps/<name>-<hash>``)."""
    hits = sorted((root / "results" / "steps").glob(f"{name}-*"))
    assert len(hits) == 1, f"expected one step folder for {name}, found {hits}"
    return hits[0]


def variant_records(root: Path) -> dict[str, dict[str, Any]]:
    """Each variant's ``where`` record, by sigma value."""
    folder = step_folder(root, "train")
    return {p.parent.name.removeprefix("sigma-"): json.loads(p.read_text())
            for p in sorted(folder.glob("sigma-*/where.json"))}


def aggregate_record(root: Path) -> tuple[dict[str, Any], list[str]]:
    """The aggregate's ``where`` record, and the variant files it read."""
    folder = step_folder(root, "aggregate")
    report = json.loads((folder / "report.json").read_text())
    return json.loads((folder / "where.json").read_text()), list(report["inputs"])


def output_stamps(root: Path) -> dict[Path, float]:
    """mtimes of every step output, to check that a second run rewrote nothing."""
    return {p: p.stat().st_mtime for p in (root / "results" / "steps").rglob("*") if p.is_file()}
