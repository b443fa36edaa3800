"""A corpus of Claude Code and Factory Droid files, written from both agents' documentation, loads.

tests/corpus/ is a project: commands, subagents, droids, skills (both agents), a plugin listed in
its config, files without frontmatter, nested folders, display names and values that a strict YAML
parser rejects. Each file loads unchanged; what it defines is asserted (issue 11, items 1 and 7).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import REPO, ToyProject

from slashmake.compiler.project import Project
from slashmake.definitions.model import Definitions
from slashmake.interfaces.cli import main

CORPUS = REPO / "tests" / "corpus"
READ_ONLY = {"Read", "LS", "Grep", "Glob"}


@pytest.fixture(scope="module")
def defs() -> Definitions:
    return Project.open(CORPUS).defs


def test_the_corpus_is_large_and_every_file_loads(defs: Definitions) -> None:
    files = [p for p in CORPUS.rglob("*.md") if "docs" not in p.parts] + [CORPUS / ".factory/commands/greet"]
    assert len(files) >= 40
    assert defs.errors == []
    loaded = {c.path for c in defs.commands.values()} | {d.path for d in defs.droids.values()}
    shadowed = {CORPUS / ".factory/commands/standup.md", CORPUS / ".claude/commands/standup.md"}
    assert loaded | shadowed == set(files)


def test_frontmatter_a_strict_yaml_parser_rejects_is_read_as_the_agents_read_it(defs: Definitions) -> None:
    for rel in (".claude/agents/code-reviewer.md", ".claude/commands/fix-issue.md", ".claude/commands/template.md"):
        front = (CORPUS / rel).read_text().split("---\n")[1]
        with pytest.raises(yaml.YAMLError):
            yaml.safe_load(front)  # the corpus really holds such files
    reviewer = defs.droids["code-reviewer"]
    assert reviewer.description.startswith("Use this agent when you need a thorough review of recently written code. "
                                           "Examples: <example>Context: The user has just written a function.\\n")
    assert reviewer.description.endswith("</commentary></example>")
    assert reviewer.tools == READ_ONLY - {"LS"} | {"Execute"} and reviewer.model == "sonnet"
    fix = defs.commands["fix-issue"]
    assert fix.argument_hint == "[issue-number] [priority]"
    assert fix.description == "Fix a GitHub issue by number, with a priority"
    template = defs.commands["template"]
    assert (template.description, template.argument_hint) == ("{{DESCRIPTION}}", "{{ARGS}}")
    assert template.body == "Run {{NAME}} on $ARGUMENTS."


@pytest.mark.parametrize(("name", "origin", "hint", "description", "tools"), [
    ("commit", ".claude", "[message]", "Create a git commit", {"Execute"}),
    ("review-pr", ".claude", "[pr-number]", "Review a pull request: check style, tests and risk",
     {"Read", "Grep", "Glob", "Execute"}),
    ("optimize", ".claude", "", "Analyze this code for performance issues and suggest optimizations:", None),
    ("security-review", ".claude", "", "Review this code for security vulnerabilities", None),
    ("explain", ".claude", "", "Explain code in plain words", None),
    ("frontend/component", ".claude", "<ComponentName>", "Create a React component", {"Create", "Edit", "Read"}),
    ("git/sync", ".claude", "", "Sync the branch with main: fetch, rebase, push", {"Execute", "Read"}),
    ("notes", ".claude", "[date]", "Summarise today's notes into a short list", None),
    ("web-research", ".claude", "", "Research a topic on the web and cite sources",
     {"WebSearch", "FetchUrl", "TodoWrite", "mcp__github__search_code"}),
    ("notebook", ".claude", "", "Clean a Jupyter notebook's outputs", {"Read", "Edit"}),
    ("pdf-report", "skill", "[results-folder]",
     "Build a PDF report from the results folder. Use when the user asks for a report.",
     {"Read", "Grep", "Glob", "Execute"}),
    ("explain-code", "skill", "", "Explains code with visual diagrams and analogies. Use when explaining how code "
                                  "works.", None),
    ("deploy-check", "skill", "", "Check that a deploy is safe", {"Read", "Execute"}),
    ("changelog", "skill", "", "Keep CHANGELOG.md up to date from the commits since the last tag", None),
    ("code-review", ".factory", "<branch-name>", "Send a code review checklist", None),
    ("todo", ".factory", "", "List the TODO comments in the repository, grouped by file.", None),
    ("release-notes", ".factory", "<version>", "Draft release notes for a version: what changed, what broke", None),
    ("review-kit/check", "plugin", "[base-branch]", "Run the review checklist on the current branch",
     {"Execute", "Read"}),
    ("review-kit/summary", "plugin", "", "Summarise the review comments on this branch in five bullet points.", None),
    ("review-kit/triage", "plugin", "", "Triage new issues: label, assign, ask for what is missing",
     {"Read", "mcp__github__add_labels"}),
    ("report", "project", "[--title TEXT]", "Write a report of the results", None),
    ("standup", "project", "", "The project's own standup command (it wins over the agents' folders)", None),
])
def test_commands(defs: Definitions, name: str, origin: str, hint: str, description: str,
                  tools: set[str] | None) -> None:
    cmd = defs.commands[name]
    assert (cmd.origin, cmd.argument_hint, cmd.description) == (origin, hint, description)
    assert cmd.allowed_tools == (frozenset(tools) if tools is not None else None)
    assert cmd.body and not cmd.body.startswith("---")


@pytest.mark.parametrize(("name", "origin", "shown", "tools", "model", "effort"), [
    ("code-reviewer", ".claude", "code-reviewer", {"Read", "Grep", "Glob", "Execute"}, "sonnet", None),
    ("data-scientist", ".claude", "data-scientist", {"Execute", "Read", "Create"}, "inherit", None),
    ("planner", ".claude", "planner", {"Read", "Glob", "Grep", "FetchUrl", "WebSearch", "TodoWrite", "ExitPlanMode",
                                       "AskUserQuestion"}, "opus", None),
    ("orchestrator", ".claude", "orchestrator", {"Task", "Execute", "Read"}, None, None),
    ("e2e-verifier", ".claude", "E2E Verifier", {"Execute", "Read"}, None, None),
    ("security-reviewer", ".claude", "security-reviewer", {"Read", "Grep"}, None, None),
    ("docs-reviewer", ".claude", "docs-reviewer", None, None, None),
    ("security-auditor", ".factory", "security-auditor", READ_ONLY | {"WebSearch", "FetchUrl"}, "inherit", "high"),
    ("refactorer", ".factory", "refactorer", READ_ONLY | {"Create", "Edit", "ApplyPatch", "Execute"},
     "claude-sonnet-4-5-20250929", "medium"),
    ("researcher", ".factory", "researcher", {"WebSearch", "FetchUrl"}, "inherit", None),
    ("task-splitter", ".factory", "task-splitter", {"Read", "Task", "TodoWrite", "Skill"}, None, None),
    ("release-manager", ".factory", "Release Manager", READ_ONLY, "inherit", None),
    ("tracker", ".factory", "tracker", {"Read", "mcp"}, None, None),
    ("review-kit:pr-bot", "plugin", "pr-bot", {"Read", "Edit", "Execute"}, None, None),
    ("analyst", "project", "analyst", READ_ONLY, "inherit", "low"),
])
def test_droids(defs: Definitions, name: str, origin: str, shown: str, tools: set[str] | None, model: str | None,
                effort: str | None) -> None:
    droid = defs.droids[name]
    assert (droid.origin, droid.display_name, droid.model, droid.reasoning_effort) == (origin, shown, model, effort)
    assert droid.tools == (frozenset(tools) if tools is not None else None)
    assert droid.description and droid.body


def test_multi_line_descriptions_and_every_documented_key_are_kept(defs: Definitions) -> None:
    assert defs.droids["data-scientist"].description == ("Data analysis expert for SQL queries and data insights.\n"
                                                         "Use proactively for data analysis tasks and queries.")
    planner = defs.droids["planner"].meta  # the raw keys, for the agent runtime
    assert (planner["permissionMode"], planner["maxTurns"], planner["isolation"]) == ("plan", 20, "worktree")
    assert defs.droids["orchestrator"].meta["hooks"]["PreToolUse"][0]["matcher"] == "Bash"
    skill = defs.commands["deploy-check"].meta
    assert (skill["context"], skill["agent"], skill["effort"]) == ("fork", "Explore", "high")
    assert defs.commands["review-pr"].meta["disable-model-invocation"] is True
    assert "!`gh pr view $1`" in defs.commands["review-pr"].body and "@docs/style.md" in defs.commands["review-pr"].body
    assert defs.commands["summarize"].droid == "analyst" and defs.droids["analyst"].resources == {"mem_mb": 500}


def test_a_name_defined_twice_warns_naming_both_files_and_the_winner(defs: Definitions) -> None:
    clashes = [w for w in defs.warnings if "/standup" in w]
    assert clashes == [
        ".factory/commands/standup.md: command /standup is also defined in workflow/commands/standup.md; "
        "workflow/commands/standup.md wins",
        ".claude/commands/standup.md: command /standup is also defined in workflow/commands/standup.md; "
        "workflow/commands/standup.md wins",
    ]
    assert defs.commands["standup"].path == CORPUS / "workflow/commands/standup.md"


def test_list_shows_origin_display_name_hint_and_description() -> None:
    result = CliRunner().invoke(main, ["-C", str(CORPUS), "list"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(ln.split() == [".claude", "/fix-issue", "[issue-number]", "[priority]", "Fix", "a", "GitHub", "issue",
                              "by", "number,", "with", "a", "priority"] for ln in lines)
    assert any(ln.split()[:3] == ["plugin", "/review-kit:check", "[base-branch]"] for ln in lines)
    assert any(ln.split()[:2] == ["skill", "/pdf-report"] for ln in lines)
    assert any(ln.split()[:2] == [".claude", "e2e-verifier"] and ln.endswith("(E2E Verifier)") for ln in lines)
    assert any(ln.split()[:2] == ["plugin", "review-kit:pr-bot"] and ln.endswith("pull request") for ln in lines)


def test_lint_strict_turns_warnings_into_errors() -> None:
    plain = CliRunner().invoke(main, ["-C", str(CORPUS), "lint"])
    assert plain.exit_code == 0, plain.output
    strict = CliRunner().invoke(main, ["-C", str(CORPUS), "lint", "--strict"])
    assert strict.exit_code == 1
    # the two clashes of /standup, five real commands written in the 1-based $1 style, and that the
    # corpus has no Snakefile (it is definitions only)
    assert "lint failed: 0 errors, 8 warnings (--strict)" in strict.stderr


def test_an_unknown_tool_warns_once_per_name(tmp_path: Path) -> None:
    for i in range(3):
        d = tmp_path / ".claude/agents"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"a{i}.md").write_text(f"---\nname: a{i}\ndescription: d\ntools: Read, Teleport\n---\nBody.\n")
    defs = Project.open(tmp_path).defs
    assert [w for w in defs.warnings if "Teleport" in w] == [
        "unknown tool 'Teleport' (in .claude/agents/a0.md, .claude/agents/a1.md, .claude/agents/a2.md): kept as "
        "written; neither Claude Code nor Droid documents it"]


def test_every_definition_has_a_json_record_for_the_agent_runtime(defs: Definitions) -> None:
    import json

    for cmd in defs.commands.values():
        rec = json.loads(json.dumps(cmd.record()))
        assert (rec["body"], rec["description"], rec["argument_hint"]) == (cmd.body, cmd.description,
                                                                          cmd.argument_hint)
    rec = json.loads(json.dumps(defs.droids["planner"].record()))
    assert rec["meta"]["permissionMode"] == "plan" and "ExitPlanMode" in rec["tools"]


def test_a_droid_executable_command_is_a_shell_step(defs: Definitions) -> None:
    greet = defs.commands["greet"]
    assert (greet.origin, greet.kind, greet.description) == (".factory", "shell",
                                                             "Greet someone by name (a Droid executable command)")
    assert greet.shell == ".factory/commands/greet {params.arguments}"


def test_an_executable_command_runs_with_the_chains_arguments_quoted(toy: ToyProject) -> None:
    import shutil

    (toy.root / ".factory/commands").mkdir(parents=True)
    shutil.copy(CORPUS / ".factory/commands/greet", toy.root / ".factory/commands/greet")
    toy.slashmake("run", "/greet big 'wide world' '$(touch canary)' ';'")
    assert (toy.root / "greeting.txt").read_text() == "hello big wide world $(touch canary) ;\n"
    assert not (toy.root / "canary").exists()
