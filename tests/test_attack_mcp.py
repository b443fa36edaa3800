"""Issue 17 through the MCP client: tool arguments are data, and resources stay inside the project.

`slashmake mcp` driven by the SDK's own stdio client, as an LLM steered by a prompt injection would
drive it: symlinks inside results/, encoded and absolute paths, NUL bytes, cores below one.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import ToyProject
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult, TextContent

SECRET = "API_KEY=hunter2"


def server(root: Path, env: dict[str, str]) -> Client:
    """`slashmake mcp` in ``root``, driven by the SDK's stdio client."""
    params = StdioServerParameters(command=sys.executable, args=["-m", "slashmake.interfaces.cli", "mcp"],
                                   cwd=root, env=env)
    return Client(params, read_timeout_seconds=300)


def text(result: CallToolResult) -> str:
    """A tool result's text."""
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


def data(result: CallToolResult) -> Any:
    """A tool result's structured data (a tool error fails the test)."""
    assert not result.is_error, text(result)
    return result.structured_content.get("result", result.structured_content) if result.structured_content \
        else json.loads(text(result))


def run_async(fn: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a test's client session."""
    anyio.run(fn)


@pytest.fixture
def leaky(toy: ToyProject) -> ToyProject:
    """A project with a finished step, a secret beside the project, and links to it inside results/."""
    toy.command("one")
    toy.slashmake("run", "/one")
    (toy.root.parent / "secret.env").write_text(SECRET + "\n")
    step = next((toy.root / "results/steps").glob("one-*"))
    (step / "leak.txt").symlink_to(toy.root.parent / "secret.env")
    (toy.root / "results/steps/outside").symlink_to(toy.root.parent, target_is_directory=True)
    (toy.root / "logs/steps/leak.log").symlink_to(toy.root.parent / "secret.env")
    return toy


def test_resources_never_serve_a_file_outside_the_project(leaky: ToyProject) -> None:
    step = next((leaky.root / "results/steps").glob("one-*")).name

    async def go() -> None:
        async with server(leaky.root, leaky.env()) as client:
            ok = await client.read_resource(f"slashmake://steps/{step}/report.json")
            assert '"step": "one"' in ok.contents[0].text  # type: ignore[union-attr]
            for uri in (f"slashmake://steps/{step}/leak.txt", "slashmake://steps/outside/secret.env",
                        "slashmake://logs/leak", "slashmake://steps/%2e%2e/secret.env",
                        "slashmake://steps/..%2F..%2F/secret.env", "slashmake://logs/%2e%2e%2fsecret",
                        "slashmake://steps/%2Ftmp/secret.env"):
                with pytest.raises(Exception) as info:
                    await client.read_resource(uri)
                assert SECRET not in str(info.value), uri

    run_async(go)


def test_tool_arguments_are_checked_and_stay_data(leaky: ToyProject) -> None:
    async def go() -> None:
        async with server(leaky.root, leaky.env()) as client:
            for output in ("/tmp/dag.svg", "../dag.svg", "results/steps/outside/dag.svg"):
                bad = await client.call_tool("graph", {"chain": "/one", "output": output})
                assert bad.is_error and "outside the project" in text(bad), text(bad)
            assert not (leaky.root.parent / "dag.svg").exists()
            for cores in (0, -3):
                bad = await client.call_tool("run", {"chain": "/one", "cores": cores})
                assert bad.is_error and "cores" in text(bad)
            nul = await client.call_tool("explain", {"chain": "/one 'a\0b'"})
            assert nul.is_error and "NUL" in text(nul) and "^" in text(nul), text(nul)
            nul_set = await client.call_tool("run", {"chain": "/one", "dry_run": True, "variables": {"x": "a\0b"}})
            assert nul_set.is_error and "NUL" in text(nul_set), text(nul_set)
            found = await client.call_tool("results", {"step": "$(touch CANARY)", "metric": "../../etc"})
            assert "Traceback" not in text(found)  # a filter is a filter: no rows, or no ledger yet
            assert found.is_error and "ledger" in text(found) or data(found)["rows"] == []
            assert not (leaky.root / "CANARY").exists()

    run_async(go)
    assert not any(p.name == "CANARY" for p in leaky.root.parent.rglob("*"))
    assert set(os.listdir(leaky.root.parent)) == {"proj", "secret.env"}  # nothing written beside the project


def test_an_at_path_through_a_symlink_is_refused_by_the_explain_tool(toy: ToyProject) -> None:
    (toy.root.parent / "secret.env").write_text(SECRET + "\n")
    (toy.root / "notes.md").symlink_to(toy.root.parent / "secret.env")
    toy.config(agent={"program": ["true"], "tools_format": "none"})
    (toy.root / "workflow/commands/ask.md").write_text("---\ndescription: ask\n---\nSee @notes.md.\n")

    async def go() -> None:
        async with server(toy.root, toy.env()) as client:
            bad = await client.call_tool("explain", {"chain": "/ask"})
            assert bad.is_error and "@notes.md" in text(bad) and "outside the project" in text(bad)
            assert SECRET not in text(bad)

    run_async(go)
    assert not list(Path(toy.root).glob("results/steps/ask-*"))


def test_the_explain_tool_never_runs_an_argument_in_a_bang_line(toy: ToyProject) -> None:
    toy.config(agent={"program": ["true"], "tools_format": "none"})
    (toy.root / "workflow/commands/ask.md").write_text(
        "---\ndescription: ask\n---\nLog: !`git log -1 --grep=\"$ARGUMENTS\" 2>/dev/null; echo '$0'`\n")

    async def go() -> None:
        async with server(toy.root, toy.env()) as client:
            chain = "/ask \"$(touch CANARY)\""
            explained = await client.call_tool("explain", {"chain": chain})
            assert not explained.is_error, text(explained)

    run_async(go)
    assert not (toy.root / "CANARY").exists()
