"""The compiled form of an agent step: the ``python -m slashmake.agents.step`` line and its params.

What the compiler resolved reaches the runtime as params: the command and droid files, the
arguments, the agent settings from config.yaml (the preset or program, autonomy, permission mode,
maximum turns, output format; the budget comes through the environment). The command's ``@path`` files become inputs of the step (an
edit reruns it; a missing one is an error at the line that names it), and a command with ``!``
commands gets an ``agent_bang`` param that Snakemake evaluates when it builds the DAG, so a change in
what they print reruns the step, under ``slashmake run`` and plain ``snakemake`` alike.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from slashmake.agents.prompt import body_offset, file_references, has_bang
from slashmake.compiler.smk import param_value, py
from slashmake.compiler.steps import CommandStep
from slashmake.definitions.model import Command
from slashmake.errors import CompileError

# Claude Code's model aliases (its model configuration docs); Droid takes model ids, not these.
CLAUDE_MODEL_ALIASES = frozenset({"default", "best", "sonnet", "opus", "haiku", "opusplan", "sonnet[1m]",
                                  "opus[1m]"})


def step_spec(step: CommandStep) -> dict[str, Any]:
    """What the compiler resolved for the runtime: the step's tools, model and effort.

    Tools: the command's ``allowed-tools`` within the droid's ``tools`` (bind checked that the droid
    has them all), None for no restriction. The command's own model and effort win over its droid's."""
    cmd, droid = step.cmd, step.droid
    tools = cmd.allowed_tools
    if droid is not None and droid.tools is not None:
        tools = droid.tools if tools is None else tools & droid.tools

    def setting(*values: Any) -> str:
        return next((str(v) for v in values if v and str(v) != "inherit"), "")

    effort = setting(cmd.meta.get("reasoningEffort"), cmd.meta.get("effort"),
                     droid.reasoning_effort if droid else None)
    return {"tools": None if tools is None else sorted(tools), "model": setting(cmd.model, droid.model if droid else None),
            "effort": effort}


def missing_references(root: Path, cmd: Command) -> list[str]:
    """Warnings for an agent command's ``@path`` references to files that do not exist."""
    rel = cmd.path.relative_to(root).as_posix() if cmd.path.is_relative_to(root) else str(cmd.path)
    return [f"{rel}:{ref.line}: @{ref.path}: no such file; the agent gets it as text, as Claude Code leaves an "
            "@ mention it cannot resolve (paths are relative to the project root)"
            for ref in file_references(cmd.body, body_offset(cmd.text)) if not (root / ref.path).is_file()]


_POSITIONAL = re.compile(r"(?<![\\\w$])\$([0-9])(?!\w)")


def one_based_arguments(root: Path, cmd: Command) -> list[str]:
    """A warning for a body using ``$1``... but never ``$0``: the old 1-based style.

    Claude Code numbers a command's arguments from ``$0`` (``$ARGUMENTS[0]``), and so does
    slashmake: in such a body ``$1`` is the second argument, not the first.
    """
    used = {int(m.group(1)) for m in _POSITIONAL.finditer(cmd.body)}
    if not used or 0 in used:
        return []
    rel = cmd.path.relative_to(root).as_posix() if cmd.path.is_relative_to(root) else str(cmd.path)
    first = min(used)
    return [f"{rel}: uses ${first} but never $0: arguments count from $0 (Claude Code's $ARGUMENTS[0]), so "
            f"${first} is argument {first + 1}; write $0 for the first"]


def agent_shell(root: Path, config: dict[str, Any], step: CommandStep, params: dict[str, str], inputs: dict[str, str]) -> str:
    """The shell line of an agent step; fills its ``params`` and ``inputs`` (``@`` files) in place."""

    cmd = step.command
    assert cmd is not None
    params["command_file"] = param_value(cmd.path.relative_to(root).as_posix())
    params["droid_file"] = param_value(step.droid.path.relative_to(root).as_posix() if step.droid else "")
    params["arguments"] = param_value(json.dumps(step.args))
    # max_cost_usd reaches the step through the environment (rules/common.smk): a params value
    # would rerun every agent step when the budget changes
    agent = {k: v for k, v in config.items() if k not in ("timeout", "program", "tools_format", "max_cost_usd")}
    if agent.get("preset"):
        params["agent_preset"] = param_value(str(agent.pop("preset")))
        flags = " --preset {params.agent_preset:u}"
    else:
        params["program"] = param_value(json.dumps(config.get("program") or []))
        params["tools_format"] = param_value(str(config.get("tools_format", "auto")))
        flags = " --program {params.program:u} --tools-format {params.tools_format:u}"
    for key, value in sorted(agent.items()):  # autonomy, permission_mode, max_turns, output
        # agent_*: never the name of one of the command's own parameters
        params[f"agent_{key}"] = param_value(value if isinstance(value, str) else json.dumps(value))
        flags += f" --{key.replace('_', '-')} {{params.agent_{key}:u}}"
    spec = step_spec(step)
    if config.get("preset") == "droid" and spec["model"] in CLAUDE_MODEL_ALIASES:
        where = cmd if cmd.model else step.droid
        rel = where.path.relative_to(root).as_posix() if where is not None else cmd.path.name
        raise CompileError(f"model '{spec['model']}' ({rel}) is a Claude Code alias, which `droid exec -m` does not "
                           f"take: write a model id Droid lists (`droid exec --help`), 'inherit' for Droid's own, "
                           f"or use agent.preset: claude", step.span)
    params["agent_tools"] = param_value("all" if spec["tools"] is None else ",".join(spec["tools"]))
    params["agent_model"] = param_value(spec["model"])
    params["agent_effort"] = param_value(spec["effort"])
    flags += " --tools {params.agent_tools:u} --model {params.agent_model:u} --effort {params.agent_effort:u}"
    params["timeout"] = param_value(float(cmd.timeout or config.get("timeout", 600)))
    params["agent_step"] = param_value(step.key)
    body_line = body_offset(cmd.text)
    # A reference to a file that is not there stays text, as Claude Code leaves an @ mention it cannot
    # resolve; `lint` and the step's log warn about it (missing_references).
    refs = [r for r in file_references(cmd.body, body_line) if (root / r.path).is_file()]
    if refs:  # a referenced file is an input: editing it reruns the step
        inputs["refs"] = "[" + ", ".join(py(r.path) for r in refs) + "]"
    if has_bang(cmd.body):  # what its ! commands print, read when Snakemake builds the DAG
        params["agent_bang"] = (f"lambda w: bang_fingerprint({py(cmd.path.relative_to(root).as_posix())}, "
                          f"{py(json.dumps(step.args))})")
    args = " ".join(f"--input {k}={{input.{k}:q}}" for k in step.inputs)
    for k in step.params:
        name = re.sub(r"\W", "_", k)
        args += f" --param {name}={{params.{name}:u}}"
    droid = " --droid {params.droid_file:u}" if step.droid else ""
    return ("python -m slashmake.agents.step --command {params.command_file:u}" + droid +
            " --arguments {params.arguments:u} " + args +
            " --prompt-out {output.prompt:q} --response-out {output.response:q} --metrics-out {output.metrics:q}"
            + flags + " --step {params.agent_step:u} --timeout {params.timeout:u} > {log:q} 2>&1").replace("  ", " ")
