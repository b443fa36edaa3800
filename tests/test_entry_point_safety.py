"""`slashmake agents install` with hostile names, shared folders and look-alike files (issue 17: 2, 3, 5).

Names go into generated shell text only quoted, or are refused with a positioned `lint` error;
entry-point folders that are links out of the project are never written or cleaned; a file is
slashmake's only when it is exactly what slashmake wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from conftest import PYTHON, ToyProject


def _with_slashmake(toy: ToyProject) -> ToyProject:
    toy.command("a", metrics={"score": "0.5"})
    venv = toy.root / ".venv/bin"  # the project's own slashmake, as `make` would leave it
    venv.mkdir(parents=True)
    (venv / "slashmake").write_text(f'#!/bin/sh\nexec "{PYTHON}" -m slashmake.interfaces.cli "$@"\n')
    (venv / "slashmake").chmod(0o755)
    return toy


def _tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_name_that_is_shell_syntax_never_runs_and_lint_points_at_it(toy: ToyProject) -> None:
    _with_slashmake(toy)
    evil = toy.root / "workflow/commands/$(touch PWNED)"
    evil.mkdir()
    (evil / "x.md").write_text("---\ndescription: x\nslashmake:\n  output: {o: o.txt}\n  shell: echo x > {output.o}\n---\n")
    plugin = toy.root / "plugins/kit"  # a plugin manifest's name is pasted the same way
    (plugin / ".claude-plugin").mkdir(parents=True)
    (plugin / ".claude-plugin/plugin.json").write_text(json.dumps({"name": "k'; touch PWNED; '"}))
    (plugin / "commands").mkdir()
    (plugin / "commands/y.md").write_text((evil / "x.md").read_text())
    toy.config(plugins=["plugins/kit"])
    lint = toy.slashmake("lint", check=False)
    assert lint.returncode == 1
    assert "workflow/commands/$(touch PWNED)/x.md:1:1: command name '/$(touch PWNED):x' cannot be an entry point" \
        in lint.stderr
    r = toy.slashmake("agents", "install")
    assert "skipped '/$(touch PWNED):x': its name cannot be a shell word" in r.stdout
    assert "command name \"/k'; touch PWNED; ':y\" cannot be an entry point" in lint.stderr
    for script in sorted((toy.root / ".factory/commands").iterdir()):
        assert "touch" not in script.read_text(), script.name
        subprocess.run([str(script), "--help"], cwd=toy.root, env=toy.env(), capture_output=True, timeout=120)
    for skill in sorted((toy.root / ".claude/skills").glob("*/SKILL.md")):
        assert "touch" not in skill.read_text(), skill
    assert not (toy.root / "PWNED").exists() and not (toy.root / ".factory/commands/PWNED").exists()


def test_entry_point_folders_linked_out_of_the_project_are_left_alone(toy: ToyProject, tmp_path: Path) -> None:
    _with_slashmake(toy)
    shared = tmp_path / "shared"  # another project's entry points, reached through links
    (shared / "skills/other").mkdir(parents=True)
    (shared / "skills/other/SKILL.md").write_text("---\nname: other\nslashmake-entry-point: x\n---\nother's\n")
    (shared / "commands").mkdir()
    (shared / "commands/other").write_text("#!/bin/sh\n# slashmake-entry-point: written by `slashmake agents install`\n")
    before = _tree(shared)
    (toy.root / ".claude").mkdir()
    (toy.root / ".factory").mkdir()
    os.symlink(shared / "skills", toy.root / ".claude/skills")
    os.symlink(shared / "commands", toy.root / ".factory/commands")
    r = toy.slashmake("agents", "install")
    assert ".claude/skills leads outside the project" in r.stderr and ".factory/commands leads outside" in r.stderr
    assert _tree(shared) == before
    # the rest of the install (the MCP config, inside the project) is done
    assert json.loads((toy.root / ".mcp.json").read_text())["mcpServers"]["slashmake"]["args"] == ["mcp"]
    toy.slashmake("agents", "uninstall")
    assert _tree(shared) == before


def test_only_files_exactly_as_slashmake_wrote_them_are_its_own(toy: ToyProject) -> None:
    _with_slashmake(toy)
    toy.slashmake("agents", "install")
    # the user's own skill and Droid command that quote the marker (documentation, a copied header)
    mine = toy.root / ".claude/skills/notes/SKILL.md"
    mine.parent.mkdir(parents=True)
    mine.write_text("---\nname: notes\ndescription: how entry points work\n---\n"
                    "Files with `slashmake-entry-point: written by slashmake agents install` are generated.\n")
    tool = toy.root / ".factory/commands/tool"
    tool.write_text("#!/bin/sh\n# slashmake-entry-point: written by `slashmake agents install`; kept by me\necho mine\n")
    tool.chmod(0o755)
    # an entry point the user edited is theirs now
    edited = toy.root / ".factory/commands/a"
    edited.write_text(edited.read_text() + "# my change\n")
    r = toy.slashmake("agents", "install")
    assert mine.exists() and tool.exists() and edited.read_text().endswith("# my change\n")
    assert ".factory/commands/a exists and was not written by slashmake: skipped" in r.stderr
    # they are definitions of the user's again, not hidden as generated files
    listed = toy.slashmake("list").stdout
    assert "/tool" in listed
    toy.slashmake("agents", "uninstall")
    assert mine.exists() and tool.exists() and edited.exists()
    assert not (toy.root / ".factory/commands/slashmake").exists()


def test_check_names_a_slashmake_that_is_gone(toy: ToyProject) -> None:
    """Entry points call the slashmake that existed at install time; --check says when it moved."""
    _with_slashmake(toy)
    toy.slashmake("agents", "install")
    assert toy.slashmake("agents", "install", "--check").returncode == 0
    (toy.root / ".venv/bin/slashmake").unlink()  # the project's virtualenv was removed
    check = toy.slashmake("agents", "install", "--check", check=False)
    assert check.returncode == 1 and "stale: .factory/commands/a" in check.stdout
    assert f".factory/commands/a calls {toy.root.resolve()}/.venv/bin/slashmake, which is gone" in check.stderr
    ran = subprocess.run([str(toy.root / ".factory/commands/a")], cwd=toy.root, env=toy.env(), text=True,
                         capture_output=True, timeout=60)
    assert ran.returncode == 127 and "is gone (moved or uninstalled)" in ran.stderr
    toy.slashmake("agents", "install")  # now the slashmake running install, by its absolute path
    script = (toy.root / ".factory/commands/a").read_text()
    assert f"exe={Path(PYTHON).parent}/slashmake\n" in script
