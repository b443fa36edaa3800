"""Issue 17 through the MCP client: tool arguments are data, and resources stay inside the project.

`slashmake mcp` driven by the SDK's own stdio client, as an LLM steered by a prompt injection would
drive it: symlinks inside results/, encoded and absolute paths, NUL bytes, cores below one.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import ToyProject
from test_mcp_server import _data, _run, _server, _text

SECRET = "API_KEY=hunter2"


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
        async with _server(leaky.root, leaky.env()) as client:
            ok = await client.read_resource(f"slashmake://steps/{step}/report.json")
            assert '"step": "one"' in ok.contents[0].text  # type: ignore[union-attr]
            for uri in (f"slashmake://steps/{step}/leak.txt", "slashmake://steps/outside/secret.env",
                        "slashmake://logs/leak", "slashmake://steps/%2e%2e/secret.env",
                        "slashmake://steps/..%2F..%2F/secret.env", "slashmake://logs/%2e%2e%2fsecret",
                        "slashmake://steps/%2Ftmp/secret.env"):
                with pytest.raises(Exception) as info:
                    await client.read_resource(uri)
                assert SECRET not in str(info.value), uri

    _run(go)


def test_tool_arguments_are_checked_and_stay_data(leaky: ToyProject) -> None:
    async def go() -> None:
        async with _server(leaky.root, leaky.env()) as client:
            for output in ("/tmp/dag.svg", "../dag.svg", "results/steps/outside/dag.svg"):
                bad = await client.call_tool("graph", {"chain": "/one", "output": output})
                assert bad.is_error and "outside the project" in _text(bad), _text(bad)
            assert not (leaky.root.parent / "dag.svg").exists()
            for cores in (0, -3):
                bad = await client.call_tool("run", {"chain": "/one", "cores": cores})
                assert bad.is_error and "cores" in _text(bad)
            nul = await client.call_tool("explain", {"chain": "/one 'a\0b'"})
            assert nul.is_error and "NUL" in _text(nul) and "^" in _text(nul), _text(nul)
            nul_set = await client.call_tool("run", {"chain": "/one", "dry_run": True, "variables": {"x": "a\0b"}})
            assert nul_set.is_error and "NUL" in _text(nul_set), _text(nul_set)
            rows = _data(await client.call_tool("results", {"step": "$(touch CANARY)", "metric": "../../etc"}))
            assert rows["rows"] == []
            assert not (leaky.root / "CANARY").exists()

    _run(go)
    assert not any(p.name == "CANARY" for p in leaky.root.parent.rglob("*"))
    assert set(os.listdir(leaky.root.parent)) == {"proj", "secret.env"}  # nothing written beside the project


def test_an_at_path_through_a_symlink_is_refused_by_the_explain_tool(toy: ToyProject) -> None:
    (toy.root.parent / "secret.env").write_text(SECRET + "\n")
    (toy.root / "notes.md").symlink_to(toy.root.parent / "secret.env")
    toy.config(agent={"program": ["true"], "tools_format": "none"})
    (toy.root / "workflow/commands/ask.md").write_text("---\ndescription: ask\n---\nSee @notes.md.\n")

    async def go() -> None:
        async with _server(toy.root, toy.env()) as client:
            bad = await client.call_tool("explain", {"chain": "/ask"})
            assert bad.is_error and "@notes.md" in _text(bad) and "outside the project" in _text(bad)
            assert SECRET not in _text(bad)

    _run(go)
    assert not list(Path(toy.root).glob("results/steps/ask-*"))
