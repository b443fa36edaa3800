"""`slashmake agents install`: entry points run exactly as Droid and Claude Code run them.

Droid runs an executable custom command as a program with the typed arguments; Claude Code runs a
skill's ``!`…` `` line through bash in the project root, after putting the typed arguments in
place of ``$ARGUMENTS``. The tests do the same (the agents themselves cannot run here), with no
slashmake on PATH: the entry points must find the project's own ``.venv/bin/slashmake``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import PYTHON, ToyProject


def _project(toy: ToyProject) -> ToyProject:
    toy.command("a", metrics={"score": "0.5"})
    toy.command("b", inputs=["report"], metrics={"acc": "0.9"})
    toy.command("pipe", flow="/a → /b", body="Two toy steps.")
    venv = toy.root / ".venv/bin"  # the project's own slashmake, as `make` would leave it
    venv.mkdir(parents=True)
    (venv / "slashmake").write_text(f'#!/bin/sh\nexec "{PYTHON}" -m slashmake.interfaces.cli "$@"\n')
    (venv / "slashmake").chmod(0o755)
    return toy


def _agent_env(toy: ToyProject, tmp: Path) -> dict[str, str]:
    """What an agent's child sees: `python` for the rules, and no slashmake on PATH."""
    bin_dir = tmp / "agent-bin"
    bin_dir.mkdir(exist_ok=True)
    if not (bin_dir / "python").exists():
        os.symlink(PYTHON, bin_dir / "python")
    env = toy.env()
    env["PATH"] = f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin"
    return env


def _skill_command(skill: Path, arguments: str) -> str:
    """The one ```! block of a skill, with $ARGUMENTS substituted as Claude Code does (as typed)."""
    text = skill.read_text()
    front = yaml.safe_load(text.split("---")[1])
    [block] = re.findall(r"^```!\n(.*?)^```$", text, re.M | re.S)
    command = block.replace("$ARGUMENTS", arguments)
    prefix = re.fullmatch(r"Bash\((.*):\*\)", front["allowed-tools"])
    assert prefix and command.startswith(prefix.group(1) + " "), (front["allowed-tools"], command)
    assert front["disable-model-invocation"] is True and front["name"] == skill.parent.name
    return command


@pytest.mark.slow
def test_droid_command_runs_the_build_once(toy: ToyProject, tmp_path: Path) -> None:
    _project(toy)
    toy.slashmake("agents", "install")
    script = toy.root / ".factory/commands/pipe"
    assert os.access(script, os.X_OK) and script.read_text().startswith("#!/bin/sh\n")
    env = _agent_env(toy, tmp_path)
    first = subprocess.run([str(script)], cwd=toy.root, env=env, text=True, capture_output=True, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    assert toy.ran() == ["a", "b"]
    assert "results:" in first.stdout and "acc=0.9" in first.stdout  # the results table is shown
    again = subprocess.run([str(script)], cwd=toy.root, env=env, text=True, capture_output=True, timeout=300)
    assert again.returncode == 0 and toy.ran() == [] and "acc=0.9" in again.stdout
    # Typed arguments reach slashmake as part of the chain, never as shell text.
    cmd = toy.root / ".factory/commands/a"
    # The payload would create a canary file if any shell along the way ran it (never a destructive one).
    canary = tmp_path / "canary"
    payload = f"x; touch {canary}; $(touch {canary}) `touch {canary}`"
    typed = subprocess.run([str(cmd), "sigma-0.10", f'"{payload}"'], cwd=toy.root, env=env, text=True,
                           capture_output=True, timeout=300)
    assert typed.returncode == 0, typed.stdout + typed.stderr
    [record] = toy.records()
    assert record["step"] == "a" and record["args"] == ["sigma-0.10", payload]
    assert not canary.exists(), "a shell ran the typed argument"
    # A mistake in them is slashmake's usual error, with its caret.
    bad = subprocess.run([str(cmd), "$unset"], cwd=toy.root, env=env, text=True, capture_output=True, timeout=300)
    assert bad.returncode == 1 and "<chain>:1:4:" in bad.stderr and "^" in bad.stderr


@pytest.mark.slow
def test_claude_skill_line_runs_the_build_once(toy: ToyProject, tmp_path: Path) -> None:
    _project(toy)
    toy.slashmake("agents", "install")
    env = _agent_env(toy, tmp_path)
    command = _skill_command(toy.root / ".claude/skills/pipe/SKILL.md", "")
    first = subprocess.run(["bash", "-c", command], cwd=toy.root, env=env, text=True, capture_output=True, timeout=300)
    assert first.returncode == 0, first.stdout
    assert toy.ran() == ["a", "b"] and "acc=0.9" in first.stdout
    again = subprocess.run(["bash", "-c", command], cwd=toy.root, env=env, text=True, capture_output=True, timeout=300)
    assert again.returncode == 0 and toy.ran() == [] and "Nothing to be done" in again.stdout
    # The ad-hoc entry point: `/slashmake <chain>`, with the chain's `→`, `>` and `$` intact.
    adhoc = _skill_command(toy.root / ".claude/skills/slashmake/SKILL.md", "$t=0.5 → /a → /if:score>=$t → /b")
    ran = subprocess.run(["bash", "-c", adhoc], cwd=toy.root, env=env, text=True, capture_output=True, timeout=300)
    assert ran.returncode == 0, ran.stdout
    assert "branch then" in ran.stdout and not (toy.root / "=$t").exists()


def test_install_is_idempotent_checkable_and_leaves_other_files_alone(toy: ToyProject) -> None:
    _project(toy)
    listed = toy.slashmake("list").stdout
    mine = toy.root / ".factory/commands/b"
    mine.parent.mkdir(parents=True)
    mine.write_text("#!/bin/sh\necho my own /b\n")
    (toy.root / ".mcp.json").write_text(json.dumps({"mcpServers": {"other": {"command": "other-server"}}}))
    first = toy.slashmake("agents", "install")
    assert ".factory/commands/b exists and was not written by slashmake: skipped" in first.stderr
    assert mine.read_text() == "#!/bin/sh\necho my own /b\n"
    assert {"wrote .factory/commands/a", "wrote .claude/skills/pipe/SKILL.md",
            "wrote .factory/commands/slashmake"} <= set(first.stdout.splitlines())
    claude = json.loads((toy.root / ".mcp.json").read_text())["mcpServers"]
    assert claude["other"] == {"command": "other-server"}
    assert claude["slashmake"] == {"command": ".venv/bin/slashmake", "args": ["mcp"]}
    factory = json.loads((toy.root / ".factory/mcp.json").read_text())["mcpServers"]
    assert factory["slashmake"]["type"] == "stdio"
    # Generated files are not read back as definitions.
    assert toy.slashmake("list").stdout == listed
    # the user's own executable /b is a second /b, as Droid reads it; nothing generated is
    warnings = [w for w in toy.slashmake("lint").stderr.splitlines() if w.startswith("warning")]
    assert warnings == ["warning: .factory/commands/b: command /b is also defined in workflow/commands/b.md; "
                        "workflow/commands/b.md wins"]
    second = toy.slashmake("agents", "install")
    assert second.stdout.strip() == "entry points are up to date"
    assert toy.slashmake("agents", "install", "--check").returncode == 0
    # A new command and a removed one make the entry points stale; install brings them in line.
    toy.command("c")
    (toy.root / "workflow/commands/a.md").unlink()
    check = toy.slashmake("agents", "install", "--check", check=False)
    assert check.returncode == 1
    assert {"stale: .factory/commands/c", "stale: .claude/skills/c/SKILL.md", "stale: .factory/commands/a"} \
        <= set(check.stdout.splitlines())
    assert not (toy.root / ".factory/commands/c").exists()  # --check changes nothing
    toy.slashmake("agents", "install")
    assert (toy.root / ".factory/commands/c").exists() and not (toy.root / ".factory/commands/a").exists()
    assert not (toy.root / ".claude/skills/a").exists()
    # Uninstall removes only what install wrote.
    out = toy.slashmake("agents", "uninstall").stdout
    assert "removed .factory/commands/c" in out and mine.exists()
    assert not (toy.root / ".claude/skills").exists() or not any((toy.root / ".claude/skills").iterdir())
    assert json.loads((toy.root / ".mcp.json").read_text()) == {"mcpServers": {"other": {"command": "other-server"}}}
    assert not (toy.root / ".factory/mcp.json").exists()


def test_name_clashes_are_named_in_warnings(toy: ToyProject) -> None:
    _project(toy)
    defn = toy.root / ".factory/commands/ship.md"
    defn.parent.mkdir(parents=True)
    defn.write_text("---\ndescription: ship it\nslashmake:\n  shell: echo ship\n---\n")
    toy.command("x/y")
    toy.command("x-y")
    r = toy.slashmake("agents", "install")
    assert ".factory/commands/ship.md is also /ship in Droid" in r.stderr
    assert "/x:y and /x-y are both /x-y in the agents: only /x-y gets an entry point" in r.stderr
    assert "run -- /x-y\"${1:+ $*}\"" in (toy.root / ".factory/commands/x-y").read_text()
    assert (toy.root / ".factory/commands/ship").exists() and defn.exists()


def test_init_installs_entry_points_when_asked(tmp_path: Path) -> None:
    proj = tmp_path / "mine"
    r = subprocess.run([sys.executable, "-m", "slashmake.interfaces.cli", "init", str(proj), "--agents"], cwd=tmp_path,
                       text=True, capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "wrote .factory/commands/slashmake" in r.stdout and (proj / ".claude/skills/slashmake/SKILL.md").exists()
    assert (proj / ".mcp.json").exists()
