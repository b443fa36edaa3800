"""The text of the entry points ``slashmake agents install`` writes, and the slashmake they call.

Pure functions of names and descriptions: no file is read or written here. Names are shell-quoted,
and a chain name that could not be one shell word is refused (:func:`safe_chain`).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
from pathlib import Path

from slashmake.agents.errors import AgentError
from slashmake.definitions.sealed import MARKER, SEAL_PLACEHOLDER, seal

SLASHMAKE = ".venv/bin/slashmake"  # the project's own slashmake, relative to its root
ARGS_END = "SLASHMAKE_ARGUMENTS_END"  # ends the skill's here-document of typed arguments
# What may appear in a chain that an entry point embeds: a name as files and the grammar spell it.
_SAFE_CHAIN = re.compile(r"/?[A-Za-z0-9_][A-Za-z0-9_.:/@+-]*")


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


def slashmake_program(root: Path) -> str:
    """The slashmake entry points call: the project's ``.venv/bin/slashmake``, else this one's absolute path."""
    if os.access(root / SLASHMAKE, os.X_OK):
        return SLASHMAKE
    beside = Path(sys.executable).parent / "slashmake"  # a venv's or a tool install's own script
    if os.access(beside, os.X_OK):
        return str(beside.absolute())
    found = shutil.which("slashmake")
    if found:
        return str(Path(found).absolute())
    raise AgentError("cannot find the slashmake program to call from the entry points: install slashmake "
                     "(pip install slashmake) so that `slashmake` is on PATH, then run this again")


def safe_chain(chain: str) -> bool:
    """Whether a command's chain name can go into an entry point (no shell, heredoc or ``$`` syntax)."""
    return bool(_SAFE_CHAIN.fullmatch(chain)) and "$" not in chain


def droid_script(name: str, chain: str | None, description: str, exe: str = SLASHMAKE) -> str:
    """A Droid executable command running ``chain`` (or, without one, the typed chain).

    The typed arguments arrive as argv; ``"$*"`` joins them into one word, so they reach
    slashmake as part of the chain and never as shell text. The chain is shell-quoted.
    """
    what = f"slashmake run {chain} [ARGUMENTS]" if chain else "slashmake run <chain>"
    typed = f'{shlex.quote(chain)}"${{1:+ $*}}"' if chain else '"$*"'
    program = f'"$root/{SLASHMAKE}"' if exe == SLASHMAKE else shlex.quote(exe)
    return seal(f"""#!/bin/sh
# {MARKER} {SEAL_PLACEHOLDER}: written by `slashmake agents install`; an edit makes it yours (install then leaves it alone).
# description: {_one_line(description)} ({what})
# Runs the build through slashmake: cached steps do not run again.
root=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)
exe={program}
if [ ! -x "$exe" ]; then
    echo "slashmake: $exe is gone (moved or uninstalled): install slashmake, then run 'slashmake agents install' in $root" >&2
    exit 127
fi
exec "$exe" -C "$root" run -- {typed}
""")


def claude_skill(name: str, chain: str | None, description: str, hint: str, exe: str = SLASHMAKE) -> str:
    """A Claude Code skill whose one ``!`` block runs the build; the model only summarises.

    Claude Code pastes ``$ARGUMENTS`` into the block as typed; inside a here-document with a
    quoted delimiter, bash takes it as text (no quotes to balance, no ``$`` or backticks to expand)
    and slashmake reads the chain from stdin.
    """
    what = f"runs `slashmake run {chain}`" if chain else "runs a slashmake chain: /slashmake /a → /b"
    front = {
        "name": name,
        "description": f"{_one_line(description)} ({what})".strip(),
        "argument-hint": hint or ("<chain>" if chain is None else ""),
        "disable-model-invocation": True,
        "allowed-tools": f"Bash({exe} run:*)",
    }
    lines = ["---", *(f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in front.items() if v != ""),
             f'{MARKER}: "{SEAL_PLACEHOLDER} written by `slashmake agents install`; an edit makes it yours"', "---"]
    return seal("\n".join([
        *lines,
        f"Output of `slashmake run {chain or '<chain>'}` (slashmake ran the steps; finished steps were not rerun):",
        "",
        "```!",
        f"{shlex.quote(exe)} run - 2>&1 <<'{ARGS_END}'",
        f"{chain} $ARGUMENTS" if chain else "$ARGUMENTS",
        ARGS_END,
        "```",
        "",
        "Summarise the output above for the user: which steps ran and which were already up to date, "
        "the results table (metrics and gate decisions), the answers of agent steps, and any error with "
        "its location. Do not run the steps or the chain yourself and do not rerun the command.",
        "",
    ]))
