"""`slashmake mcp` driven by the MCP SDK's own stdio client, as Claude Code or Droid would drive it."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import REPO, ToyProject
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult, TextContent


def _server(root: Path, env: dict[str, str]) -> Client:
    params = StdioServerParameters(command=sys.executable, args=["-m", "slashmake.interfaces.cli", "mcp"], cwd=root, env=env)
    return Client(params, read_timeout_seconds=300)


def _text(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


def _data(result: CallToolResult) -> Any:
    assert not result.is_error, _text(result)
    return result.structured_content.get("result", result.structured_content) if result.structured_content \
        else json.loads(_text(result))


def _run(fn: Callable[[], Coroutine[Any, Any, None]]) -> None:
    anyio.run(fn)


@pytest.mark.slow
def test_list_and_explain_the_ml_pipeline(tmp_path: Path) -> None:
    """The project's real definitions, copied: tools listed, flows listed, /ml-pipeline-full explained."""
    root = tmp_path / "ml"
    for rel in ("workflow", "droids", "config"):
        shutil.copytree(REPO / rel, root / rel, symlinks=True)
    (root / "rules").mkdir()
    shutil.copy(REPO / "Snakefile", root / "Snakefile")
    shutil.copy(REPO / "rules/common.smk", root / "rules/common.smk")
    os.symlink("config/profiles", root / "profiles")

    async def go() -> None:
        async with _server(root, dict(os.environ)) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            assert {"list", "lint", "explain", "run", "results", "graph"} <= tools
            flows = _data(await client.call_tool("list", {}))
            macros = {m["name"]: m["description"] for m in flows["macros"]}
            assert "/ml-pipeline-full" in macros and macros["/ml-pipeline-full"]
            assert flows["droids"] and all("description" in d for d in flows["droids"])
            explained = _text(await client.call_tool("explain", {"chain": "/ml-pipeline-full"}))
            lines = explained.splitlines()
            assert any(line.startswith("will run") and "/ml-train" in line for line in lines), explained
            assert any("/ml-deploy" in line for line in lines), explained  # behind the gate: waits or will run
            lint = await client.call_tool("lint", {})
            assert not lint.is_error and "commands it may run" in _text(lint), _text(lint)
            # A broken definition: lint is a tool error naming the file, line and column, with the caret.
            (root / "workflow/commands/broken.md").write_text("---\nslashmake:\n  threads: many\n---\n")
            broken = await client.call_tool("lint", {})
            assert broken.is_error and "workflow/commands/broken.md:" in _text(broken) and "^" in _text(broken)
            assert _data(await client.call_tool("list", {}))["unreadable"]

    _run(go)


def _toy(toy: ToyProject) -> ToyProject:
    toy.command("a", metrics={"score": "0.5"})
    ledger = ("python toy_step.py b --out {output.report} --metrics {output.metrics} --set accuracy=0.91 "
              "&& python -c \"import json, sys; from slashmake_ml.ledger import append; "
              "append('results/ledger.jsonl', 'b', json.load(open(sys.argv[1])))\" {output.metrics}")
    toy.command("b", inputs=["report"], metrics={"accuracy": "0.91"}, shell=ledger)
    toy.command("slow", params={"seconds": 3}, shell="touch slow.started && sleep {params.seconds} && "
                "python toy_step.py slow --out {output.report}")
    toy.command("pipe", flow="/a → /if:score>0.4 → /b → /end")
    # Holds its run (and so the project's lock) from `hold.started` until the test writes `hold.release`.
    toy.command("hold", shell="touch hold.started && for i in $(seq 1200); do [ -e hold.release ] && break; "
                "sleep 0.1; done && python toy_step.py hold --out {output.report}")
    return toy


@pytest.mark.slow
def test_run_a_toy_flow_with_progress_results_errors_and_the_lock(toy: ToyProject) -> None:
    _toy(toy)

    async def go() -> None:
        async with _server(toy.root, toy.env()) as client:
            progress: list[tuple[float, float | None, str | None]] = []

            async def on_progress(p: float, total: float | None, message: str | None) -> None:
                progress.append((p, total, message))

            ran = _data(await client.call_tool("run", {"chain": "/pipe"}, progress_callback=on_progress))
            assert toy.ran() == ["a", "b"]
            assert "accuracy=0.91" in ran["results"] and ran["nothing_to_do"] is False
            assert [d["decision"].split()[0] for d in ran["decisions"]] == ["then"]
            assert any(p.endswith("/report.json") for p in ran["outputs"]["/b"])
            assert any(total and p == total for p, total, _ in progress), progress  # "N of N steps done"
            assert any(m and "steps" in m for _, _, m in progress), progress
            again = _data(await client.call_tool("run", {"chain": "/pipe"}))
            assert toy.ran() == [] and again["nothing_to_do"] is True
            # Dry run, force, variables.
            dry = _data(await client.call_tool("run", {"chain": "/pipe", "dry_run": True, "force": ["/a"]}))
            assert toy.ran() == [] and dry["dry_run"] is True and "a" in dry["output_tail"]
            forced = _data(await client.call_tool("run", {"chain": "$t=0.9 → /a → /if:score>$t → /b → /end",
                                                          "variables": {"t": "0.2"}, "force": ["/a"]}))
            assert toy.ran() == ["a", "b"]  # a forced step reruns what reads it
            assert [d["decision"].split()[0] for d in forced["decisions"]] == ["then"]
            # Results: the ledger, filtered.
            rows = _data(await client.call_tool("results", {"step": "b"}))["rows"]
            assert [r["accuracy"] for r in rows] == [0.91, 0.91]  # /b ran twice: once forced
            last = _data(await client.call_tool("results", {"metric": "accuracy", "limit": 1}))
            assert last["total"] == 2 and len(last["rows"]) == 1
            assert _data(await client.call_tool("results", {"step": "nope"}))["rows"] == []
            # A step's output and log as resources.
            [b_step] = [s for s in ran["steps"] if s["label"] == "/b"]
            report = await client.read_resource(f"slashmake://steps/{b_step['key']}/report.json")
            assert json.loads(report.contents[0].text)["step"] == "b"  # type: ignore[union-attr]
            log = await client.read_resource(b_step["log"])
            assert log.contents
            # A mistake in the chain: a tool error carrying the caret; the server lives on.
            bad = await client.call_tool("run", {"chain": "/a → → /b"})
            assert bad.is_error and "<chain>:1:" in _text(bad) and "^" in _text(bad)
            assert toy.ran() == []
            # Graph: an SVG inside the project.
            svg = _text(await client.call_tool("graph", {"chain": "/pipe", "output": "dag.svg"}))
            assert svg.endswith("dag.svg") and (toy.root / "dag.svg").read_text().lstrip().startswith("<")
            # A second run while one holds the project's lock is refused.
            outcomes: dict[str, CallToolResult] = {}

            async def call(tag: str, chain: str) -> None:
                outcomes[tag] = await client.call_tool("run", {"chain": chain})

            async with anyio.create_task_group() as tg:
                tg.start_soon(call, "first", "/hold")
                with anyio.fail_after(120):
                    while not (toy.root / "hold.started").exists():  # the first run is inside its step
                        await anyio.sleep(0.05)
                await call("second", "/a")
                (toy.root / "hold.release").touch()
            assert not outcomes["first"].is_error, _text(outcomes["first"])
            assert outcomes["second"].is_error and "another run holds" in _text(outcomes["second"])
            assert toy.ran() == ["hold"]

    _run(go)


@pytest.mark.slow
def test_a_run_started_elsewhere_holds_the_lock(toy: ToyProject) -> None:
    _toy(toy)
    import fcntl

    (toy.root / ".slashmake").mkdir(exist_ok=True)

    async def go() -> None:
        async with _server(toy.root, toy.env()) as client:
            with open(toy.root / ".slashmake/run.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # what a `slashmake run` in a terminal holds
                refused = await client.call_tool("run", {"chain": "/a"})
            assert refused.is_error and ".slashmake/run.lock" in _text(refused)
            assert toy.ran() == []
            assert not (await client.call_tool("run", {"chain": "/a"})).is_error
            assert toy.ran() == ["a"]
            # A call the client gives up on stops its run: the lock is free again, nothing half-written.
            # The client gives up once the step has started (an event, not a guess at how long starting takes).
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.call_tool, "run", {"chain": "/slow seconds=60"})
                with anyio.fail_after(120):
                    while not (toy.root / "slow.started").exists():
                        await anyio.sleep(0.05)
                tg.cancel_scope.cancel()
            with anyio.fail_after(30):  # the step sleeps 60 s: the lock is free sooner only if the run stopped
                while True:
                    with open(toy.root / ".slashmake/run.lock", "a") as lock:
                        try:
                            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                            break
                        except BlockingIOError:
                            await anyio.sleep(0.2)
            assert toy.ran() == [] and not list((toy.root / "results/steps").glob("slow-*/report.json"))
            # Resources stay inside the project.
            with pytest.raises(Exception, match="Unknown resource|not a step key|no file"):
                await client.read_resource("slashmake://logs/..")

    _run(go)
