"""slashmake.definitions.tools: Factory tool IDs, categories and Claude Code names."""

from __future__ import annotations

from pathlib import Path

import frontmatter
import pytest

from slashmake.definitions.tools import (
    ALL_TOOL_IDS,
    CATEGORIES,
    ToolsError,
    describe,
    missing_tools,
    normalize_tools,
    to_program_form,
    unknown_names,
)

FIXTURES = Path(__file__).parent / "fixtures" / "agents"
READ_ONLY = {"Read", "LS", "Grep", "Glob"}


@pytest.mark.parametrize(
    "category, ids",
    [
        ("read-only", READ_ONLY),
        ("edit", {"Create", "Edit", "ApplyPatch"}),
        ("execute", {"Execute"}),
        ("web", {"WebSearch", "FetchUrl"}),
        ("mcp", {"mcp"}),
    ],
)
def test_categories(category: str, ids: set[str]) -> None:
    got, warnings = normalize_tools(category)
    assert got == ids
    assert warnings == []
    assert set(CATEGORIES[category]) == ids


@pytest.mark.parametrize(
    "claude, factory",
    [
        ("Bash", "Execute"),
        ("Write", "Create"),
        ("Edit", "Edit"),
        ("MultiEdit", "Edit"),
        ("Read", "Read"),
        ("Glob", "Glob"),
        ("Grep", "Grep"),
        ("LS", "LS"),
        ("WebFetch", "FetchUrl"),
        ("WebSearch", "WebSearch"),
        ("Bash(git add:*)", "Execute"),
        ("Read(./src/**)", "Read"),
    ],
)
def test_claude_names(claude: str, factory: str) -> None:
    assert normalize_tools([claude]) == (frozenset({factory}), [])


def test_factory_ids_are_not_categories() -> None:
    # "Edit" is one tool; "edit" is the category
    assert normalize_tools(["Edit"])[0] == {"Edit"}
    assert normalize_tools(["edit"])[0] == {"Create", "Edit", "ApplyPatch"}
    assert normalize_tools(["Execute"])[0] == {"Execute"}


def test_list_string_and_mixed_forms() -> None:
    assert normalize_tools("Read, Grep, Glob")[0] == {"Read", "Grep", "Glob"}
    assert normalize_tools(["read-only", "Execute"])[0] == READ_ONLY | {"Execute"}
    assert normalize_tools("read-only, Bash")[0] == READ_ONLY | {"Execute"}
    # commas inside a permission rule do not split it
    assert normalize_tools("Bash(git add:*, git commit:*), Read")[0] == {"Execute", "Read"}
    assert normalize_tools(["Read, Write"])[0] == {"Read", "Create"}


def test_forgiving_spellings() -> None:
    assert normalize_tools("read_only")[0] == READ_ONLY
    assert normalize_tools("Read-Only")[0] == READ_ONLY
    assert normalize_tools(["grep", "READ"])[0] == {"Grep", "Read"}
    assert normalize_tools("Web")[0] == {"WebSearch", "FetchUrl"}


def test_omitted_means_all_and_empty_means_none() -> None:
    assert normalize_tools(None) == (ALL_TOOL_IDS, [])
    assert normalize_tools("*")[0] == ALL_TOOL_IDS
    assert normalize_tools([]) == (frozenset(), [])
    assert READ_ONLY | {"Execute", "Create", "Edit", "ApplyPatch", "WebSearch", "FetchUrl"} <= ALL_TOOL_IDS


def test_unknown_ids_are_kept_with_a_warning() -> None:
    ids, warnings = normalize_tools(["Read", "Teleport", "Zap"])
    assert ids == {"Read", "Teleport", "Zap"}
    assert len(warnings) == 2
    assert "Teleport" in warnings[0] and "kept" in warnings[0]
    assert unknown_names(ids) == {"Teleport", "Zap"}


@pytest.mark.parametrize(
    "claude, factory",
    [
        ("Task", "Task"), ("Agent", "Task"), ("Agent(code-reviewer)", "Task"), ("BashOutput", "Execute"),
        ("KillShell", "Execute"), ("NotebookRead", "Read"), ("NotebookEdit", "Edit"), ("TodoWrite", "TodoWrite"),
        ("TodoRead", "TodoWrite"), ("WebFetch", "FetchUrl"), ("WebSearch", "WebSearch"), ("Skill", "Skill"),
    ],
)
def test_both_agents_current_names_map_to_one_id(claude: str, factory: str) -> None:
    assert normalize_tools([claude]) == (frozenset({factory}), [])


def test_claude_only_tools_are_known_and_kept_for_claude() -> None:
    ids, warnings = normalize_tools("Read, AskUserQuestion, ExitPlanMode")
    assert warnings == [] and unknown_names(ids) == set()
    assert to_program_form(ids, "claude") == ["--allowedTools", "AskUserQuestion,ExitPlanMode,Read"]
    assert to_program_form(ids, "droid") == ["--enabled-tools", "Read"]


def test_factory_ids_map_back_to_claude_names() -> None:
    ids = normalize_tools(["Task", "Skill", "TodoWrite", "FetchUrl", "Create"])[0]
    assert to_program_form(ids, "claude") == ["--allowedTools", "Skill,Task,TodoWrite,WebFetch,Write"]


def test_space_separated_lists_as_skills_write_them() -> None:
    ids, warnings = normalize_tools("Read Grep Glob Bash(git diff *)")
    assert ids == {"Read", "Grep", "Glob", "Execute"} and warnings == []


def test_mcp_tool_names_are_kept_quietly() -> None:
    assert normalize_tools("mcp__github__create_issue, Read") == (
        frozenset({"mcp__github__create_issue", "Read"}),
        [],
    )


def test_wrong_types_raise() -> None:
    with pytest.raises(ToolsError):
        normalize_tools(42)
    with pytest.raises(ToolsError):
        normalize_tools(["Read", 3])


def test_missing_tools() -> None:
    droid = normalize_tools("read-only")[0]
    assert missing_tools(droid, ["Read", "Grep"]) == set()
    assert missing_tools(droid, ["Read", "Bash(git add:*)"]) == {"Execute"}
    assert missing_tools(droid, "Write, Edit") == {"Create", "Edit"}
    # command without allowed-tools needs nothing; droid without tools has everything
    assert missing_tools(droid, None) == set()
    assert missing_tools(None, ["Execute", "Task"]) == set()
    assert missing_tools(normalize_tools(None)[0], ["Task"]) == set()
    # raw values work on either side
    assert missing_tools("edit, read-only", ["Write", "Read"]) == set()
    assert missing_tools([], ["Read"]) == {"Read"}
    # the mcp category covers every MCP tool
    assert missing_tools(["mcp"], ["mcp__github__create_issue"]) == set()
    assert missing_tools(["Read"], ["mcp__github__create_issue"]) == {"mcp__github__create_issue"}


def test_to_program_form_claude() -> None:
    ids = normalize_tools(["read-only", "Execute", "Create", "FetchUrl"])[0]
    assert to_program_form(ids, "claude") == ["--allowedTools", "Bash,Glob,Grep,LS,Read,WebFetch,Write"]


def test_to_program_form_claude_keeps_permission_rules() -> None:
    raw = ["Read", "Bash(git add:*)", "Bash(git status:*)"]
    ids = normalize_tools(raw)[0]
    assert to_program_form(ids, "claude", raw=raw) == [
        "--allowedTools",
        "Bash(git add:*),Bash(git status:*),Read",
    ]


def test_to_program_form_droid_and_none() -> None:
    ids = normalize_tools(["Read", "Bash", "mcp", "Task"])[0]
    assert to_program_form(ids, "droid") == ["--enabled-tools", "Execute,Read,Task"]
    assert to_program_form(ids, "none") == []
    assert to_program_form(None, "claude") == []  # no restriction: the program's default
    assert to_program_form(frozenset(), "droid") == []
    with pytest.raises(ValueError, match="unknown tools format"):
        to_program_form(ids, "codex")


def test_describe() -> None:
    assert describe(normalize_tools(["read-only", "Execute"])[0]) == "read-only + execute"
    assert describe(None) == "all tools"
    assert describe(frozenset()) == "no tools"
    assert describe({"Read", "Task"}) == "Read + Task"


def _tools_of(path: Path) -> object:
    meta = frontmatter.load(str(path)).metadata
    return meta.get("tools", meta.get("allowed-tools"))


@pytest.mark.parametrize(
    "name, ids, n_warnings",
    [
        ("factory-full.md", READ_ONLY | {"WebSearch", "FetchUrl"}, 0),
        ("factory-category.md", READ_ONLY, 0),
        ("factory-unknown-tool.md", {"Read", "Teleport", "Execute"}, 1),
        ("factory-mcp.md", {"mcp", "WebSearch", "FetchUrl", "Read"}, 0),
        ("claude-subagent.md", {"Read", "Grep", "Glob", "Execute", "Edit", "Create"}, 0),
        (
            "claude-subagent-rules.md",
            {"Execute", "Read", "FetchUrl", "Edit", "mcp__github__create_pull_request"},
            0,
        ),
    ],
)
def test_fixture_tools(name: str, ids: set[str], n_warnings: int) -> None:
    got, warnings = normalize_tools(_tools_of(FIXTURES / name))
    assert got == ids
    assert len(warnings) == n_warnings


def test_fixture_without_tools_is_all() -> None:
    assert normalize_tools(_tools_of(FIXTURES / "factory-no-tools.md"))[0] == ALL_TOOL_IDS
