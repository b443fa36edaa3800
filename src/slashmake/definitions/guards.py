"""Checks that keep a command's names and files from colliding with what slashmake and Snakemake own.

Each is a positioned error when the file loads (so ``lint`` reports it), where it used to be
silently overwritten or found only when the job ran:

- an output named ``log`` (a rule's log is Snakemake's own ``{log}``);
- a parameter named ``arguments`` (it holds the step's free arguments);
- an output named ``metrics`` beside a ``metrics.file`` that names another file (one would win);
- a ``script:`` that is not a file inside the project (after symlinks), or whose path Snakemake
  would read as a pattern.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

from slashmake.definitions.files import DefFile

RESERVED_OUTPUTS = {"log": "a rule's log is Snakemake's own {log}",
                    "slashmake_script": "it names the input that holds a script: command's script"}
RESERVED_PARAMS = {"arguments": "{params.arguments} holds the step's free arguments ($ARGUMENTS)"}
RESERVED_INPUTS = {"slashmake_script": "it names the input that holds a script: command's script"}
_SAFE_PATH = re.compile(r"[A-Za-z0-9_./+-]+")


def check_names(f: DefFile, sm: dict[str, Any]) -> None:
    """Reserved and clashing output, input and parameter names."""
    outputs = sm.get("output") or {}
    for name, why in RESERVED_OUTPUTS.items():
        if name in outputs:
            raise f.error(f"an output may not be named '{name}': {why}", "slashmake", "output", name, value=False)
    inputs = sm.get("input") or []
    names = [str(x).rstrip("?") for x in (inputs if isinstance(inputs, list) else list(inputs))]
    for name, why in RESERVED_INPUTS.items():
        if name in names:
            raise f.error(f"an input may not be named '{name}': {why}", "slashmake", "input")
    for name, why in RESERVED_PARAMS.items():
        if name in (sm.get("params") or {}):
            raise f.error(f"a parameter may not be named '{name}': {why}", "slashmake", "params", name, value=False)
    metrics = sm.get("metrics")
    if isinstance(metrics, dict) and "metrics" in outputs and "file" in metrics:
        mine, theirs = str(outputs["metrics"]), str(metrics["file"])
        if PurePosixPath(mine) != PurePosixPath(theirs):
            raise f.error(f"output 'metrics' ({mine}) and metrics.file ({theirs}) name different files: the "
                          "metrics file is the output named 'metrics'; name the same file in both, or drop one",
                          "slashmake", "metrics", "file")


def check_script(f: DefFile, sm: dict[str, Any], root: Path) -> None:
    """A ``script:`` names an existing file inside the project, by a plain relative path."""
    script = sm.get("script")
    if not isinstance(script, str) or not script.strip():
        return
    at = ("slashmake", "script")
    if os.path.isabs(script) or script.startswith("~"):
        raise f.error(f"script '{script}' must be a path relative to the project root", *at)
    if not _SAFE_PATH.fullmatch(script):
        raise f.error(f"script '{script}' may hold only letters, digits and . _ / + - (Snakemake reads braces "
                      "and other characters in a path as a pattern)", *at)
    top = root.resolve()
    real = (top / script).resolve()
    if not real.is_relative_to(top):
        raise f.error(f"script '{script}' resolves to {real}, outside the project {top}", *at)
    if not real.is_file():
        raise f.error(f"script '{script}': no such file (paths are relative to the project root)", *at)
