"""Users' definition files read as their agents read them (issue 18, findings 12 to 18).

Each case is a file shape found in public repositories, driven through the CLI.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import ToyProject

AGENT_CMD = "---\ndescription: {d}\nallowed-tools: {tools}\n---\nDo {d}.\n"


def _write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_agent_files_without_frontmatter_or_name_are_named_and_not_agents(toy: ToyProject) -> None:
    _write(toy.root, ".claude/agents/notes.md", "Some notes about our agents.\n")
    _write(toy.root, ".claude/agents/references/style.md", "---\ntitle: style guide\n---\nUse tabs.\n")
    _write(toy.root, ".claude/agents/reviewer.md", "---\nname: reviewer\ndescription: reviews\ntools: Read\n---\nR.\n")
    _write(toy.root, "droids/bare.md", "You are a helpful droid.\n")
    r = toy.slashmake("lint")
    assert ".claude/agents/notes.md: not an agent, skipped: it has no frontmatter" not in r.stderr  # a note
    assert ".claude/agents/references/style.md: not an agent, skipped: its frontmatter has no 'name'" in r.stderr
    assert "droids/bare.md: not an agent, skipped: it has no frontmatter" in r.stderr
    listed = toy.slashmake("list").stdout
    assert "reviewer" in listed and "style" not in listed and "bare" not in listed and "notes" not in listed


def test_readmes_beside_droids_are_not_droids(toy: ToyProject) -> None:
    _write(toy.root, ".factory/droids/README.md", "# Our droids\n\nThey help.\n")
    _write(toy.root, ".factory/droids/helper.md", "---\nname: helper\ndescription: helps\n---\nHelp.\n")
    r = toy.slashmake("lint")
    assert "readme" not in (r.stdout + r.stderr).lower()
    assert "helper" in toy.slashmake("list").stdout


def test_disallowed_tools_are_taken_away(toy: ToyProject) -> None:
    _write(toy.root, ".claude/agents/careful.md",
           "---\nname: careful\ndescription: never edits\ndisallowedTools: Edit, Write\n---\nLook only.\n")
    _write(toy.root, "workflow/commands/fix.md", AGENT_CMD.format(d="fix", tools="[Read, Edit]"))
    _write(toy.root, "workflow/commands/look.md", AGENT_CMD.format(d="look", tools="[Read, Grep]"))
    bad = toy.slashmake("compile", "careful:fix", check=False)
    assert bad.returncode == 1 and "droid careful" in bad.stderr and "lacks Edit" in bad.stderr
    assert toy.slashmake("compile", "careful:look").returncode == 0


def test_current_tool_names_and_keys_are_known(toy: ToyProject) -> None:
    _write(toy.root, ".claude/agents/planner.md",
           "---\nname: planner\ndescription: plans\ntools: Read, AskUser, TaskCreate, TaskGet, TaskList, Workflow\n"
           "initialPrompt: Start by reading the plan.\n---\nPlan.\n")
    r = toy.slashmake("lint")
    assert "warning" not in r.stderr, r.stderr


def test_a_plugins_agent_runs_a_command_in_a_chain(toy: ToyProject) -> None:
    plugin = toy.root / "plugins/claude-security"
    _write(plugin, ".claude-plugin/plugin.json", json.dumps({"name": "claude-security"}))
    _write(plugin, "agents/explore.md", "---\nname: explore\ndescription: explores\ntools: Read, Grep\n---\nE.\n")
    _write(toy.root, "workflow/commands/aggregate.md", AGENT_CMD.format(d="aggregate", tools="[Read]"))
    toy.config(plugins=["plugins/claude-security"])
    assert "claude-security:explore" in toy.slashmake("list").stdout
    r = toy.slashmake("compile", "claude-security:explore:aggregate")
    assert "rule aggregate" in r.stdout


def test_a_command_named_with_a_leading_digit_can_be_called(toy: ToyProject) -> None:
    toy.command("1-initialize-spec")
    r = toy.slashmake("explain", "/1-initialize-spec")
    assert r.stdout.startswith("will run    /1-initialize-spec "), r.stdout + r.stderr


def test_sub_folder_commands_answer_to_their_own_name(toy: ToyProject) -> None:
    _write(toy.root, ".claude/commands/git/commit.md", AGENT_CMD.format(d="commit", tools="[Read]"))
    _write(toy.root, ".claude/commands/a/dup.md", AGENT_CMD.format(d="dup a", tools="[Read]"))
    _write(toy.root, ".claude/commands/b/dup.md", AGENT_CMD.format(d="dup b", tools="[Read]"))
    both = [set(re.findall(r"^rule ((?!chain_)\w+):", toy.slashmake("compile", chain).stdout, re.M))
            for chain in ("/commit", "/git:commit")]
    assert both[0] == both[1] and any("commit" in r for r in both[0]), both
    clash = toy.slashmake("compile", "/dup", check=False)
    assert clash.returncode == 1 and "/dup is /a:dup and /b:dup in .claude/commands/" in clash.stderr
    toy.command("commit")  # a command whose full name it is wins
    assert set(re.findall(r"^rule ((?!chain_)\w+):", toy.slashmake("compile", "/commit").stdout, re.M)) != both[0]


def test_macros_refuse_what_they_do_not_declare(toy: ToyProject) -> None:
    toy.command("train", params={"seed": 1})
    _write(toy.root, "workflow/commands/ship.md",
           "---\ndescription: ship\nslashmake:\n  params: {seed: 7}\n  flow: /train --seed $seed → /train:seed-2\n---\n")
    good = toy.slashmake("compile", "/ship --seed 3").stdout
    assert "seed=q(3)," in good and "seed=q(7)," not in good  # the option set the macro's $seed
    typo = toy.slashmake("compile", "/ship --sed 3", check=False)
    assert typo.returncode == 1 and "/ship has no parameter --sed" in typo.stderr and "did you mean seed" in typo.stderr
    bogus = toy.slashmake("compile", "/ship --bogus", check=False)
    assert bogus.returncode == 1 and "/ship has no parameter --bogus" in bogus.stderr and "^" in bogus.stderr
    words = toy.slashmake("compile", "/ship extra words", check=False)
    assert words.returncode == 1 and "/ship takes no arguments: its flow has no $ARGUMENTS" in words.stderr


def test_lint_warns_about_one_based_arguments(toy: ToyProject) -> None:
    _write(toy.root, ".claude/commands/fix-issue.md", "---\ndescription: fix\n---\nFix issue $1 in $2.\n")
    _write(toy.root, ".claude/commands/good.md", "---\ndescription: good\n---\nFix issue $0 in $1.\n")
    r = toy.slashmake("lint")
    assert ".claude/commands/fix-issue.md: uses $1 but never $0" in r.stderr
    assert "good.md: uses" not in r.stderr
