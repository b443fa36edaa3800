"""One source for each ML default: the dataclasses in slashmake_ml.config.

The scripts take their flag defaults from the dataclasses; a command file's `params` pass values
through, so each one that names a config field must equal that field's default.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from slashmake_ml.config import DataConfig, PretrainConfig, TrainConfig

REPO = Path(__file__).resolve().parents[1]
COMMANDS = REPO / "workflow" / "commands"


def _frontmatter(path: Path) -> dict:
    return yaml.safe_load(path.read_text().split("---")[1])["slashmake"]


def _defaults(cls: type, prefix: str = "") -> dict[str, object]:
    return {prefix + f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


# script -> the flags' source: (dataclass, prefix of the flag, prefix of the command param)
SOURCES = {
    "train.py": [(TrainConfig, "", "")],
    "hpo.py": [(TrainConfig, "", "")],
    "train_sweep.py": [(TrainConfig, "", ""), (PretrainConfig, "pretrain-", "pretrain_")],
    "pretrain.py": [(PretrainConfig, "", "")],
    "init.py": [(DataConfig, "", "")],
}


def _ml_commands() -> list[Path]:
    out = []
    for p in sorted(COMMANDS.rglob("*.md")):
        shell = _frontmatter(p).get("shell") or ""
        if re.search(r"slashmake_ml\.scripts\.(train|hpo|train_sweep|pretrain|init)\b", shell):
            out.append(p)
    return out


@pytest.mark.parametrize("path", _ml_commands(), ids=lambda p: p.stem)
def test_command_params_equal_the_config_defaults(path: Path) -> None:
    fm = _frontmatter(path)
    script = re.search(r"slashmake_ml\.scripts\.(\w+)", fm["shell"]).group(1) + ".py"  # type: ignore[union-attr]
    params = fm.get("params") or {}
    checked = 0
    for cls, flag_prefix, param_prefix in SOURCES[script]:
        defaults = _defaults(cls, param_prefix)
        for name, value in params.items():
            flag = "--" + name.replace("_", "-")
            if name in defaults and (flag in fm["shell"] or f"--{flag_prefix}{name}" in fm["shell"]):
                assert value == defaults[name], f"{path.name}: {name}={value!r}, {cls.__name__} says {defaults[name]!r}"
                checked += 1
    # sigma is passed as --pretrain-sigma from the sweep command's `sigma` param
    if script == "train_sweep.py":
        assert params["sigma"] == PretrainConfig.sigma and params["pretrain_steps"] == PretrainConfig.steps
    # /data-refresh passes only split settings (its data is the drifted batch, not a generator's)
    assert checked >= 3 or path.stem == "data-refresh", f"{path.name}: no params checked"


def test_every_shell_placeholder_param_is_declared() -> None:
    for p in _ml_commands():
        fm = _frontmatter(p)
        for name in re.findall(r"\{params\.(\w+)\}", fm["shell"]):
            assert name in (fm.get("params") or {}), f"{p.name}: {{params.{name}}} is not declared"


@pytest.mark.parametrize("path", _ml_commands(), ids=lambda p: p.stem)
def test_every_flag_a_command_passes_is_one_its_script_takes(path: Path) -> None:
    import subprocess
    import sys

    shell = _frontmatter(path)["shell"]
    script = re.search(r"(slashmake_ml\.scripts\.\w+)", shell).group(1)  # type: ignore[union-attr]
    helptext = subprocess.run([sys.executable, "-m", script, "--help"], cwd=REPO, capture_output=True, text=True,
                              timeout=60).stdout
    for flag in re.findall(r"(--[\w-]+)", shell):
        assert re.search(rf"{re.escape(flag)}\b", helptext), f"{path.name}: {script} has no {flag}"
