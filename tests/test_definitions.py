"""Command and droid files: loading Factory droids, Claude Code subagents and commands (no Snakemake)."""

from __future__ import annotations

from pathlib import Path

import pytest

from slashmake.compiler.project import Project
from slashmake.definitions import load, load_command, load_droid
from slashmake.errors import ResolveError

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "agents"

READ_ONLY = {"Read", "LS", "Grep", "Glob"}

# file -> (name, Factory tool IDs or None for every tool, slashmake resources)
DROIDS = {
    "claude-subagent-minimal.md": ("explainer", None, {}),
    "claude-subagent-rules.md": ("git-helper", {"Execute", "Read", "FetchUrl", "Edit",
                                                "mcp__github__create_pull_request"}, {}),
    "claude-subagent.md": ("test-runner", {"Read", "Grep", "Glob", "Execute", "Edit", "Create"}, {}),
    "factory-category.md": ("read_only_reviewer", READ_ONLY, {}),
    "factory-full.md": ("security-auditor", READ_ONLY | {"WebSearch", "FetchUrl"}, {}),
    "factory-mcp.md": ("tracker-bot", {"mcp", "WebSearch", "FetchUrl", "Read"}, {}),
    "factory-no-tools.md": ("generalist2", None, {}),
    "factory-slashmake-resources.md": ("gpu-trainer", READ_ONLY | {"Create", "Edit", "ApplyPatch", "Execute"},
                                       {"gpu": 1, "mem_mb": 16000}),
    "factory-unknown-tool.md": ("delegator", {"Read", "Teleport", "Execute"}, {}),
    "factory-display-name.md": ("bad-name", READ_ONLY, {}),  # a display name: called by its slug
    "no-frontmatter.md": ("no-frontmatter", None, {}),  # all body: the agents read it so
}


def test_the_fixture_list_is_complete() -> None:
    assert {p.name for p in FIXTURES.glob("*.md")} == set(DROIDS)


def _line_col(text: str, key: str) -> tuple[int, int]:
    for i, line in enumerate(text.splitlines(), 1):
        stripped = line.lstrip()
        if stripped.startswith(f"{key}:"):
            return i, len(line) - len(stripped) + 1
    raise AssertionError(f"{key} not in the file")


@pytest.mark.parametrize("file", sorted(DROIDS))
def test_every_fixture_droid_loads_without_edits(file: str) -> None:
    path = FIXTURES / file
    warnings: list[str] = []
    droid = load_droid(path, FIXTURES, warnings)
    name, tools, resources = DROIDS[file]
    assert droid.name == name
    assert droid.tools == (frozenset(tools) if tools is not None else None)
    assert droid.resources == resources
    assert droid.body and not droid.body.startswith("---")
    assert droid.description
    text = path.read_text()
    for w in warnings:
        assert w.startswith(f"{file}:"), w
        if "unknown key" in w:  # unknown keys are named with where they are
            key = w.split("unknown key '", 1)[1].split("'", 1)[0]
            line, col = _line_col(text, key)
            assert w.startswith(f"{file}:{line}:{col}: "), w
    if file != "claude-subagent.md":
        assert warnings == []


def test_claude_subagent_keys_outside_the_known_set_are_warnings() -> None:
    warnings: list[str] = []
    load_droid(FIXTURES / "claude-subagent.md", FIXTURES, warnings)
    named = {w.split("unknown key '", 1)[1].split("'", 1)[0] for w in warnings if "unknown key" in w}
    # Keys Factory and Claude Code both read stay quiet; the rest warn and are kept, never errors.
    assert named.isdisjoint({"name", "description", "tools", "model", "color", "permissionMode", "skills",
                             "hooks", "mcpServers", "disallowedTools"})
    assert named <= {"maxTurns", "memory", "background", "isolation"}


def test_fixture_commands_load() -> None:
    warnings: list[str] = []
    claude = load_command(FIXTURES / "commands/claude-command.md", "claude-command", FIXTURES, warnings)
    factory = load_command(FIXTURES / "commands/factory-command.md", "factory-command", FIXTURES, warnings)
    assert warnings == []
    assert claude.kind == factory.kind == "agent"
    assert claude.allowed_tools == {"Execute"}  # Bash(git add:*) and friends
    assert factory.allowed_tools == {"Read", "Grep", "Glob", "Execute"}
    assert claude.description == "Create a git commit for the staged changes"
    assert "$ARGUMENTS" in claude.body and claude.display == "/claude-command"


def test_a_file_without_frontmatter_is_all_prompt() -> None:
    droid = load_droid(FIXTURES / "no-frontmatter.md", FIXTURES, [])
    text = (FIXTURES / "no-frontmatter.md").read_text()
    assert droid.body == text.strip("\n")
    first = next(line for line in text.splitlines() if line.strip())
    assert droid.description == first.strip().lstrip("#").strip()


def test_a_display_name_is_kept_and_called_by_its_slug() -> None:
    droid = load_droid(FIXTURES / "factory-display-name.md", FIXTURES, [])
    assert (droid.name, droid.display_name) == ("bad-name", "Bad Name!")


# --------------------------------------------------------------------------- wrong types


def _write(tmp_path: Path, front: str) -> Path:
    path = tmp_path / "thing.md"
    path.write_text(f"---\n{front}\n---\nThe body.\n")
    return path


def _load(kind: str, path: Path, warnings: list[str]) -> object:
    if kind == "droid":
        return load_droid(path, path.parent, warnings)
    return load_command(path, "thing", path.parent, warnings)


@pytest.mark.parametrize(("kind", "front", "key", "words"), [
    ("command", "description: d\nslashmake:\n  params: 3", "params", "'slashmake.params' must be a mapping"),
    ("command", "description: d\nslashmake:\n  threads: \"x\"", "threads", "'slashmake.threads' must be"),
    ("command", "description: d\nslashmake:\n  retries: true", "retries", "not true/false"),
    ("command", "description: d\nslashmake:\n  metrics: {file: m.json, keys: 3}", "keys",
     "'slashmake.metrics.keys' must be a list"),
    ("droid", "name: x\nslashmake:\n  resources: 3", "resources", "'slashmake.resources' must be a mapping"),
    ("droid", "name: x\nmodel: [a, b]", "model", "'model' must be a string"),
    pytest.param("droid", "name: x\ntools: 5", "tools", "tools", id="droid-tools-int"),
    pytest.param("droid", "name: x\ntools: [Read, 3]", "tools", "tools", id="droid-tools-list-int"),
    pytest.param("command", "description: d\nallowed-tools: 5", "allowed-tools", "tools",
                 id="command-allowed-tools-int"),
])
def test_a_wrong_type_is_an_error_at_the_value(tmp_path: Path, kind: str, front: str, key: str, words: str) -> None:
    path = _write(tmp_path, front)
    with pytest.raises(ResolveError) as e:
        _load(kind, path, [])
    text = path.read_text()
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if f"{key}:" in ln)
    src = text.splitlines()[line - 1]
    col = src.index(f"{key}:") + len(key) + 3  # the caret goes under the value, after "key: "
    lines = e.value.render().splitlines()
    assert lines[0].startswith(f"thing.md:{line}:{col}: "), lines[0]
    assert words in lines[0]
    assert lines[1] == f"    {src}"
    assert lines[2].startswith("    " + " " * (col - 1) + "^"), lines[2]


@pytest.mark.parametrize(("kind", "front", "key", "where"), [
    ("command", "description: d\nslashmake:\n  droid: x\n  colour: red", "slashmake.colour", "5:3"),
    ("command", "description: d\nflavour: mint", "flavour", "3:1"),
    ("droid", "name: x\nslashmake:\n  resources: {gpu: 1}\n  bogus: 2", "slashmake.bogus", "5:3"),
    pytest.param("command", "description: d\nslashmake:\n  metrics: {keys: [a], bogus: 1}", "slashmake.metrics.bogus",
                 "4:24"),
], ids=["command-slashmake-key", "command-top-key", "droid-slashmake-key", "command-metrics-key"])
def test_an_unknown_key_is_a_warning_with_its_position(tmp_path: Path, kind: str, front: str, key: str,
                                                       where: str) -> None:
    path = _write(tmp_path, front)
    warnings: list[str] = []
    _load(kind, path, warnings)  # loads: unknown keys never stop a file that agents also read
    assert any(w.startswith(f"thing.md:{where}: unknown key '{key}'") for w in warnings), warnings


# --------------------------------------------------------------------------- the repo's own definitions


def test_the_repos_commands_and_droids_load_cleanly() -> None:
    defs = load(REPO)
    assert defs.warnings == []
    assert {p.stem for p in (REPO / "droids").glob("*.md")} == set(defs.droids)
    assert len(defs.commands) == len(list((REPO / "workflow/commands").rglob("*.md")))
    for cmd in defs.commands.values():  # every default droid exists and can run its command
        if cmd.droid is not None:
            assert cmd.droid in defs.droids, f"{cmd.path}: unknown droid {cmd.droid}"


def test_every_macro_in_the_repo_resolves() -> None:
    project = Project.open(REPO)
    macros = project.macros()
    assert {"parallel-analysis", "droid-handoff", "ml-pipeline-full", "continuous-training"} <= set(macros)
    for name in macros:
        resolved = project.resolve_chain(f"/{name.replace('/', ':')}", name)
        assert resolved.steps, name
