"""Canaries: every place a user-, file- or LLM-supplied string reaches a shell, a path or a generated file.

Each payload tries to create a canary FILE (never anything destructive): inside the project, beside
it (``..``) and at an absolute path beside it. After each case no canary exists, and nothing beside
the project was created or changed. Places covered: ``!`` lines in every quoting context, chain
arguments to a program, sweep values, variables and ``--set``, MCP tool arguments. (Entry-point
names, the other place, belong to the entry-point rewrite of issue 18 and are tested there.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ToyProject
from test_attack_mcp import run_async, server, text

FAKE = str(Path(__file__).resolve().parent / "fake_agent.py")


def payloads(outside: Path) -> list[str]:
    """Shell metacharacters, both quotes, newlines, ``..`` and absolute paths: each would touch a canary."""
    canary = outside / "CANARY"
    return ["; touch CANARY", "$(touch CANARY)", "`touch CANARY`", '"; touch CANARY; "', "'; touch CANARY; '",
            "a\ntouch CANARY", "&& touch ../CANARY", f"| touch {canary}", "../../CANARY", str(canary),
            "$(touch ${HOME:-/nonexistent}/../CANARY)", "\\'$(touch CANARY)\\'", "${IFS}touch${IFS}CANARY"]


def snapshot(folder: Path, skip: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` but ``skip`` (the project), with its size and mtime."""
    out: dict[str, tuple[int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if Path(dirpath, d) != skip]
        for name in filenames + dirnames:
            st = os.lstat(os.path.join(dirpath, name))
            out[os.path.join(dirpath, name)] = (st.st_size, st.st_mtime_ns)
    return out


def no_canary(root: Path, before: dict[str, tuple[int, int]]) -> None:
    """No canary in the project or beside it, and nothing beside the project touched."""
    # `touch CANARY` pasted next to other text makes `CANARY>`, `CANARY'`...: any name starting so.
    # (A graph the MCP test asked for, named by a payload, is data: its name ends in .svg.)
    ran = [p for p in root.rglob("CANARY*") if not p.name.endswith(".svg")]
    assert not ran, f"a payload ran inside the project: {ran}"
    assert snapshot(root.parent, root) == before, "something beside the project was written"


def quoted(value: str) -> str:
    """A chain's double-quoted string for ``value``."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- ! lines, in every quoting context ----------------------------------------------------------------

# Each context's ``!`` line; ``@I`` stands for each payload's index in turn.
CONTEXTS = {
    "bare": "!`echo $@I`", "double": '!`echo "<$@I>"`', "single": "!`echo '<$@I>'`", "ansi": "!`echo $'<$@I>'`",
    "indexed": '!`echo "$ARGUMENTS[@I]"`', "subst": '!`echo $(echo "$@I")`', "backticks": "```!\necho `printf %s $@I`\n```",
    "block": '```!\necho "$@I"\n```', "heredoc": "```!\ncat <<EOF\n$@I\nEOF\n```", "comment": "!`echo hi # $@I`",
}
WHOLE = {  # $ARGUMENTS and a named argument: once each
    "all-bare": "!`echo $ARGUMENTS`", "all-double": '!`git log -1 --grep="$ARGUMENTS" 2>/dev/null; echo ok`',
    "all-single": "!`echo '$ARGUMENTS'`", "named": "!`echo \"$topic\" '$topic' $topic`",
}


def body(context: str, n: int) -> str:
    """The command body of one context: its line once per payload index."""
    if context in WHOLE:
        return WHOLE[context]
    return "\n\n".join(CONTEXTS[context].replace("@I", str(i)) for i in range(n))


@pytest.mark.parametrize("context", sorted([*CONTEXTS, *WHOLE]))
def test_bang_lines_never_run_an_argument(tmp_path: Path, context: str) -> None:
    root = tmp_path / "proj"
    (root / "workflow/commands").mkdir(parents=True)
    cmd = root / "workflow/commands/c.md"
    args = payloads(tmp_path)
    cmd.write_text(f"---\ndescription: d\narguments: [topic]\n---\n{body(context, len(args))}\n")
    before = snapshot(tmp_path, root)
    out = root / "out"
    argv = [sys.executable, "-m", "slashmake.agents.step", "--command", "workflow/commands/c.md",
            "--arguments", json.dumps(args), "--prompt-out", str(out / "prompt.md"),
            "--response-out", str(out / "response.md"), "--metrics-out", str(out / "metrics.json"),
            "--program", json.dumps([sys.executable, FAKE, "-f", "{prompt_file}"]), "--tools-format", "none"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKE_AGENT")}
    proc = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    no_canary(root, before)
    if context not in ("comment", "all-double"):
        assert "touch CANARY" in (out / "prompt.md").read_text()  # the payload is printed: data


def test_a_quoted_heredoc_refuses_an_argument_that_could_end_it(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / "workflow/commands").mkdir(parents=True)
    (root / "workflow/commands/c.md").write_text("---\ndescription: d\n---\n```!\ncat <<'EOF'\n$0\nEOF\n```\n")
    out = root / "out"
    argv = [sys.executable, "-m", "slashmake.agents.step", "--command", "workflow/commands/c.md",
            "--arguments", json.dumps(["x\nEOF\ntouch CANARY"]), "--prompt-out", str(out / "p.md"),
            "--response-out", str(out / "r.md"), "--metrics-out", str(out / "m.json"),
            "--program", json.dumps([sys.executable, FAKE, "-f", "{prompt_file}"]), "--tools-format", "none"]
    proc = subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "here-document" in proc.stderr
    assert not (root / "CANARY").exists()


# -- chain arguments, sweep values, variables and --set, through real Snakemake -----------------------

def test_chain_arguments_reach_the_program_as_argv_words(toy: ToyProject) -> None:
    toy.command("one")
    args = payloads(toy.root.parent)
    before = snapshot(toy.root.parent, toy.root)
    (toy.root / "chain.flow").write_text("/one " + " ".join(quoted(a) for a in args) + "\n")
    toy.slashmake("run", "-f", "chain.flow")
    no_canary(toy.root, before)
    assert toy.records()[-1]["args"] == args  # each value one word, exactly as typed


def test_sweep_values_stay_data_and_folders_stay_inside(toy: ToyProject) -> None:
    toy.command("sw", params={"tag": "x"})
    values = [v for v in payloads(toy.root.parent) if "\n" not in v]
    before = snapshot(toy.root.parent, toy.root)
    (toy.root / "chain.flow").write_text("/sw parallel[" + " | ".join(f"tag={quoted(v)}" for v in values) + "]\n")
    toy.slashmake("run", "-f", "chain.flow")
    no_canary(toy.root, before)
    folders = [p for p in (toy.root / "results/steps").glob("sw-*/*") if p.is_dir()]
    assert len(folders) == len(values)
    assert all(p.resolve().is_relative_to(toy.root.resolve()) and len(p.name) <= 64 for p in folders)


def test_variables_and_set_values_stay_data(toy: ToyProject) -> None:
    toy.command("one", params={"tag": "x"}, shell="python toy_step.py one --out {output.report} -- {params.tag}")
    before = snapshot(toy.root.parent, toy.root)
    for value in payloads(toy.root.parent)[:6]:
        toy.slashmake("run", "--set", f"t={value}", input="$t=0 → /one --tag $t\n")
        assert toy.records()[-1]["args"] == [value]
    no_canary(toy.root, before)


# -- MCP tool arguments -------------------------------------------------------------------------------

def test_mcp_tool_arguments_stay_data(toy: ToyProject) -> None:
    toy.command("one", params={"tag": "x"})
    before = snapshot(toy.root.parent, toy.root)
    values = payloads(toy.root.parent)

    async def go() -> None:
        async with server(toy.root, toy.env()) as client:
            # Each call starts Snakemake: the payloads go together where the tool takes several.
            calls: list[tuple[str, dict[str, object]]] = [
                ("explain", {"chain": "/one " + " ".join(quoted(v) for v in values)}),
                ("run", {"chain": "/one", "dry_run": True, "force": values}),
                *(("explain", {"chain": "/one --tag $t", "variables": {"t": v}}) for v in values[:4]),
                *(("graph", {"chain": "/one", "output": v + ".svg"}) for v in values[7:11]),
                *(("results", {"step": v, "metric": v}) for v in values)]
            for tool, args in calls:
                result = await client.call_tool(tool, args)
                assert "Traceback" not in text(result), (tool, args, text(result))

    run_async(go)
    no_canary(toy.root, before)
