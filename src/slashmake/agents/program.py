"""The agent program's argv: a preset for ``droid exec`` or ``claude -p``, or a template from config.

Pure functions: an argv list, never a shell string. The presets follow each CLI's documented flags:

``droid`` (Factory ``droid exec``)::

    droid exec --output-format stream-json --cwd ROOT --auto LEVEL [-m MODEL] [-r EFFORT]
               [--enabled-tools IDS] -f PROMPT_FILE

``claude`` (Claude Code headless mode; the prompt arrives on stdin)::

    claude -p --output-format stream-json --verbose --permission-mode MODE [--model MODEL]
           [--effort EFFORT] [--max-turns N] [--allowedTools NAMES]

``droid exec`` has no maximum number of turns; ``claude -p`` has no working-directory flag (it
works in the directory it starts in, the project root).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from slashmake.agents.errors import EXIT_USAGE, AgentError

PRESETS = ("droid", "claude")
# config.yaml's agent keys that reach the compiled agent rules
AGENT_CONFIG_KEYS = ("preset", "program", "tools_format", "timeout", "autonomy", "permission_mode", "max_turns",
                     "output", "max_cost_usd")
OUTPUT_FORMATS = ("text", "json", "stream-json")
DROID_AUTONOMY = ("low", "medium", "high")
CLAUDE_PERMISSION_MODES = ("default", "acceptEdits", "plan", "bypassPermissions", "dontAsk")
PLACEHOLDERS = ("{prompt_file}", "{prompt}", "{tools}", "{model}", "{effort}")
_PLACEHOLDER_RE = re.compile(r"\{prompt_file\}|\{prompt\}")


@dataclass(frozen=True)
class Settings:
    """What one step asks of the agent program (from config, the droid and the command)."""

    model: str = ""
    effort: str = ""
    autonomy: str = "low"
    permission_mode: str = "acceptEdits"
    max_turns: int | None = None
    output: str = "stream-json"


@dataclass(frozen=True)
class Invocation:
    """The argv, what goes to the program's stdin, and how to read its stdout."""

    argv: list[str]
    stdin: str | None
    output: str  # text | json | stream-json
    name: str = ""  # the program as config names it ("python", not the interpreter it became)


def _set(value: str) -> bool:
    return bool(value) and value != "inherit"


def preset_argv(preset: str, s: Settings, prompt_file: str, tools_args: Sequence[str], cwd: str,
                prompt: str) -> Invocation:
    """The documented argv of ``droid exec`` or ``claude -p`` for one step."""
    if s.output not in OUTPUT_FORMATS:
        raise AgentError(f"agent.output must be one of {', '.join(OUTPUT_FORMATS)}, got {s.output!r}", EXIT_USAGE)
    if preset == "droid":
        if s.autonomy not in DROID_AUTONOMY:
            raise AgentError(f"agent.autonomy must be one of {', '.join(DROID_AUTONOMY)} for droid, "
                             f"got {s.autonomy!r}", EXIT_USAGE)
        argv = ["droid", "exec", "--output-format", s.output, "--cwd", cwd, "--auto", s.autonomy]
        if _set(s.model):
            argv += ["-m", s.model]
        if _set(s.effort):
            argv += ["-r", s.effort]
        return Invocation([*argv, *tools_args, "-f", prompt_file], None, s.output)
    if preset == "claude":
        if s.permission_mode not in CLAUDE_PERMISSION_MODES:
            raise AgentError(f"agent.permission_mode must be one of {', '.join(CLAUDE_PERMISSION_MODES)}, "
                             f"got {s.permission_mode!r}", EXIT_USAGE)
        argv = ["claude", "-p", "--output-format", s.output]
        if s.output == "stream-json":
            argv.append("--verbose")  # claude -p prints stream-json only with --verbose
        argv += ["--permission-mode", s.permission_mode]
        if _set(s.model):
            argv += ["--model", s.model]
        if _set(s.effort):
            argv += ["--effort", s.effort]
        if s.max_turns:
            argv += ["--max-turns", str(s.max_turns)]
        # The prompt goes on stdin: a long prompt as one argv word hits the kernel's size limit.
        return Invocation([*argv, *tools_args], prompt, s.output)
    raise AgentError(f"agent.preset must be one of {', '.join(PRESETS)}, got {preset!r}", EXIT_USAGE)


def guess_tools_format(program: Sequence[str]) -> str:
    """``claude``/``droid`` from the program's name, else ``none``."""
    base = os.path.basename(program[0]) if program else ""
    if base.startswith("claude"):
        return "claude"
    if base.startswith("droid"):
        return "droid"
    return "none"


def build_argv(template: Sequence[str], prompt_file: str, prompt: str, tools_args: Sequence[str],
               settings: Mapping[str, str] | None = None) -> list[str]:
    """Fill a program template from config (``agent.program``).

    ``{prompt_file}`` and ``{prompt}`` are replaced inside words; a word that is exactly
    ``{tools}`` is replaced by the tools words (zero or more); without one, the tools words go at
    the end. A word that is exactly ``{model}`` or ``{effort}`` takes the step's model / effort;
    where there is none (or ``inherit``), that word and the ``--option`` before it are left out."""
    values = {"{prompt_file}": prompt_file, "{prompt}": prompt}
    optional = {f"{{{k}}}": v for k, v in (settings or {}).items()}
    argv: list[str] = []
    placed = False
    for i, word in enumerate(template):
        if word == "{tools}":
            argv.extend(tools_args)
            placed = True
            continue
        if word in ("{model}", "{effort}"):
            value = optional.get(word, "")
            if _set(value):
                argv.append(value)
            elif argv and argv[-1].startswith("-") and i > 0:
                argv.pop()  # `--model {model}` with no model: neither word
            continue
        filled = _PLACEHOLDER_RE.sub(lambda m: values[m.group(0)], word)
        if i == 0 and filled in ("python", "python3"):
            filled = sys.executable  # the workflow's own interpreter
        argv.append(filled)
    if not placed:
        argv.extend(tools_args)
    return argv
