"""`slashmake mcp`: the project's flows as MCP tools, over stdio, on the official MCP Python SDK.

Tools: ``list``, ``lint``, ``explain``, ``run``, ``results``, ``graph``; resources: a step's files
(``slashmake://steps/{key}/{name}``) and its log (``slashmake://logs/{key}``).

Reading, checking and explaining call :mod:`slashmake.api` in this process, as the CLI does. A run does not: Snakemake's in-process API changes the working
folder and global logging state, and a long run would hold the server. ``run`` starts
``slashmake run`` as a child, the same command a user types, streams its output and turns
Snakemake's ``N of M steps`` lines into progress notifications, then reads the results in process.
A user's mistake (a FlowError) is a tool error whose text is the ``file:line:col`` message with
its caret; the server itself never stops on one.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError

from slashmake import api
from slashmake.api import Project, Resolved
from slashmake.errors import FlowError

T = TypeVar("T")
_PROGRESS = re.compile(r"(\d+) of (\d+) steps \((\d+)%\) done")
_KEY = re.compile(r"[A-Za-z0-9_.-]+")
LOCK = ".slashmake/run.lock"


def _lock_holder(root: Path) -> bool:
    """Whether some process holds the project's run lock now (probed without waiting)."""
    path = root / LOCK
    if not path.exists():
        return False
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


class SlashmakeServer:
    """One project served over MCP; at most one run at a time."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.running = False
        self.mcp = MCPServer("slashmake", instructions=(
            "Build tools for a slashmake project: slash-command chains compiled to Snakemake. "
            "Use `list` to see the flows, `explain` before `run`; `run` reruns only what changed."))
        self._register()

    # -- shared ---------------------------------------------------------------------------------
    def project(self) -> Project:
        return api.open_project(self.root)

    async def call(self, fn: Callable[[], T]) -> T:
        """Run blocking library code in a worker thread; a FlowError becomes a tool error."""
        try:
            return await anyio.to_thread.run_sync(fn)
        except FlowError as e:
            raise ToolError(f"Error: {e.render()}") from None

    def prepare(self, chain: str, variables: dict[str, str]) -> api.Prepared:
        return api.prepare(self.project(), chain, "<chain>", _variables(variables))

    # -- tools ----------------------------------------------------------------------------------
    def _register(self) -> None:
        mcp = self.mcp

        @mcp.tool(name="list", description="The project's macros, commands, agent commands and droids, with descriptions.")
        async def list_flows() -> dict[str, Any]:
            return await self.call(self.list_flows)

        @mcp.tool(name="lint", description="Check every command, droid and macro file; return warnings or the first error.")
        async def lint() -> str:
            return await self.call(self.lint)

        @mcp.tool(name="explain", description="For each step of a chain or macro (e.g. /ml-pipeline-full): "
                                                "will it run or is it up to date, and why.")
        async def explain(chain: str, variables: dict[str, str] | None = None) -> str:
            return await self.call(lambda: self.explain(chain, variables or {}))

        @mcp.tool(name="run", description="Run a chain or macro (only what changed reruns). Returns the results "
                                            "table, each gate's decision and the output paths; reports progress.")
        async def run(chain: str, ctx: Context, dry_run: bool = False, force: list[str] | None = None,
                      variables: dict[str, str] | None = None, cores: int = 2) -> dict[str, Any]:
            return await self.run(chain, ctx, dry_run, force or [], variables or {}, cores)

        @mcp.tool(name="results", description="The experiment ledger (results/ledger.jsonl), newest last; filter "
                                                "by step name and metric.")
        async def results(step: str | None = None, metric: str | None = None, limit: int = 50) -> dict[str, Any]:
            return await self.call(lambda: self.results(step, metric, limit))

        @mcp.tool(name="graph", description="Draw a chain's or macro's job graph as an SVG; returns its path.")
        async def graph(chain: str, output: str = "dag.svg", variables: dict[str, str] | None = None) -> str:
            return await self.call(lambda: self.graph(chain, output, variables or {}))

        @mcp.resource("slashmake://steps/{key}/{name}", description="A file a step wrote (results/steps/KEY/NAME).")
        def step_file(key: str, name: str) -> str:
            return self.read(Path("results/steps") / self.safe(key) / self.safe(name))

        @mcp.resource("slashmake://logs/{key}", description="A step's log (logs/steps/KEY.log).")
        def step_log(key: str) -> str:
            return self.read(Path("logs/steps") / f"{self.safe(key)}.log")

    def list_flows(self) -> dict[str, Any]:
        return api.catalogue(self.project())

    def lint(self) -> str:
        """The CLI's lint, its lines returned; any error makes the whole answer a tool error."""
        report = api.lint(self.project())
        if report.problems:
            n = report.problems
            raise ToolError("\n".join([*report.messages, *report.lines, f"lint failed: {n} error{'s' * (n != 1)}"]))
        return "\n".join([*report.messages, *report.lines])

    def explain(self, chain: str, variables: dict[str, str]) -> str:
        return "\n".join(s.line() for s in api.explain(self.project(), chain, "<chain>", _variables(variables)))

    def graph(self, chain: str, output: str, variables: dict[str, str]) -> str:
        out = api.graph(self.project(), chain, Path(output), "<chain>", _variables(variables))
        return out.relative_to(self.root).as_posix()

    def results(self, step: str | None, metric: str | None, limit: int) -> dict[str, Any]:
        rows = api.ledger_rows(self.root, step, metric)
        return {"rows": rows[-limit:] if limit > 0 else rows, "total": len(rows)}

    # -- run ------------------------------------------------------------------------------------
    async def run(self, chain: str, ctx: Context, dry_run: bool, force: list[str], variables: dict[str, str],
                  cores: int) -> dict[str, Any]:
        if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
            raise ToolError(f"run: cores must be a whole number of at least 1, not {cores!r}")
        if self.running or _lock_holder(self.root):
            raise ToolError(f"refused: another run holds this project's lock ({LOCK}); wait for it to finish, "
                            "then run again")
        self.running = True
        try:
            # Resolve here first: a mistake in the chain comes back with its caret before anything starts.
            resolved = (await self.call(lambda: self.prepare(chain, variables))).resolved
            argv = [sys.executable, "-m", "slashmake.interfaces.cli", "-C", str(self.root), "run", "--cores", str(cores)]
            argv += ["--dry-run"] if dry_run else []
            argv += [a for f in force for a in ("--force", f)]
            argv += [a for k, v in variables.items() for a in ("--set", f"{k.lstrip('$')}={v}")]
            status, output = await self._stream([*argv, "--", chain], ctx)
        finally:
            self.running = False
        if status != 0:
            raise ToolError(f"slashmake run failed (exit {status}):\n{output[-4000:]}")
        return await self.call(lambda: self.summary(resolved, output, dry_run))

    async def _stream(self, argv: list[str], ctx: Context) -> tuple[int, str]:
        """Run ``argv`` (stdin closed: ours is the MCP channel); progress from Snakemake's step counts."""
        proc = await asyncio.create_subprocess_exec(*argv, cwd=self.root, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                                                    start_new_session=True)
        assert proc.stdout is not None
        lines: list[str] = []
        try:
            await ctx.report_progress(0, None, "starting")
            async for raw in proc.stdout:
                line = raw.decode(errors="replace").rstrip()
                lines.append(line)
                m = _PROGRESS.search(line)
                if m:
                    await ctx.report_progress(float(m.group(1)), float(m.group(2)), line.strip())
                elif line.startswith(("rule ", "checkpoint ", "localrule ", "localcheckpoint ")):
                    await ctx.report_progress(len(lines), None, line.strip().rstrip(":"))
            return await proc.wait(), "\n".join(lines)
        finally:
            if proc.returncode is None:  # the call was cancelled: stop the run as Ctrl-C would,
                # which signals the whole process group (the run and the jobs it started).
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGINT)
                await proc.wait()

    def summary(self, resolved: Resolved, output: str, dry_run: bool) -> dict[str, Any]:
        decisions, outputs = [], {}
        for step in resolved.steps:
            decision = api.decision(self.root / step.folder)
            if decision:
                decisions.append({"step": step.label, "key": step.key, "decision": decision})
            folder = self.root / step.folder
            if api.is_command(step) and folder.is_dir():
                outputs[step.label] = sorted(p.relative_to(self.root).as_posix() for p in folder.rglob("*")
                                             if p.is_file() and not p.name.startswith("."))
        nothing = "Nothing to be done" in output
        return {"dry_run": dry_run, "nothing_to_do": nothing, "results": "" if dry_run else
                api.results_text(api.step_results(self.root, resolved)), "decisions": decisions, "outputs": outputs,
                "steps": [{"label": s.label, "key": s.key, "log": f"slashmake://logs/{s.key}"} for s in resolved.steps
                          if api.is_command(s)], "output_tail": output[-3000:]}

    # -- resources ------------------------------------------------------------------------------
    @staticmethod
    def safe(part: str) -> str:
        if not _KEY.fullmatch(part) or part in (".", ".."):
            raise ResourceError(f"{part!r} is not a step key or file name")
        return part

    def read(self, rel: Path) -> str:
        path = self.root / rel
        # A link inside results/ or logs/ (a step may write one) can point anywhere: serve a file only
        # when what it really is lies inside the project.
        if not path.is_file() or not path.resolve().is_relative_to(self.root):
            raise ResourceError(f"no file {rel.as_posix()} in the project")
        return path.read_text(encoding="utf-8", errors="replace")


def _variables(variables: dict[str, str]) -> dict[str, str]:
    return {k.lstrip("$"): str(v) for k, v in variables.items()}


def serve(root: Path) -> None:
    """Serve ``root`` over stdio until the client closes the connection."""
    SlashmakeServer(root).mcp.run("stdio")
