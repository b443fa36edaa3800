"""`slashmake mcp`: the project's flows as MCP tools, over stdio, on the official MCP Python SDK.

Tools: ``list``, ``lint``, ``explain``, ``run``, ``results``, ``show``, ``runs``, ``compare``, ``graph``; resources: a step's files
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
import dataclasses
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
from slashmake.interfaces import mcp_help

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
        try:
            self.grammar = mcp_help.grammar(api.open_project(self.root))
        except FlowError:  # a broken config: the tools still start and say so when called
            self.grammar = mcp_help.grammar(None)
        self.mcp = MCPServer("slashmake", instructions=(
            "Build tools for a slashmake project: slash-command chains compiled to Snakemake. "
            "Use `list` to see the flows, `explain` before `run`; `run` reruns only what changed. "
            + self.grammar))
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
                                            "table (with each agent step's answer), each gate's decision and the "
                                            "output paths; reports progress. " + self.grammar)
        async def run(chain: str, ctx: Context, dry_run: bool = False, force: list[str] | None = None,
                      variables: dict[str, str] | None = None, cores: int = 2) -> dict[str, Any]:
            return await self.run(chain, ctx, dry_run, force or [], variables or {}, cores)

        @mcp.tool(name="results", description="The experiment ledger (results/ledger.jsonl), newest last, as compact "
                                                "rows (step, time, metrics); filter by step name and metric.")
        async def results(step: str | None = None, metric: str | None = None, limit: int = 20) -> dict[str, Any]:
            return await self.call(lambda: self.results(step, metric, limit))

        @mcp.tool(name="show", description="A step's stored result by command name (e.g. /plan): the agent's "
                                             "full answer, its metrics, its files and its log path.")
        async def show(step: str) -> dict[str, Any]:
            return await self.call(lambda: dataclasses.asdict(api.show(self.root, step)))

        @mcp.tool(name="pods", description="The RunPod pods this project's runs started (.slashmake/pods.json): "
                  "state, uptime and cost so far; pods of runs that are gone are reaped first.")
        async def pods() -> dict[str, Any]:
            report = await self.call(lambda: api.pods(self.root))
            return {"pods": [p.as_dict() for p in report.pods], "notes": list(report.notes)}

        @mcp.tool(name="graph", description="Draw a chain's or macro's job graph as an SVG; returns its path.")
        async def graph(chain: str, output: str = "dag.svg", variables: dict[str, str] | None = None) -> str:
            return await self.call(lambda: self.graph(chain, output, variables or {}))

        @mcp.tool(name="runs", description="The recorded runs, oldest first: id, time, chain, status, headline "
                                             "metric and value, duration, cost, git commit. Filter by chain; limit keeps the last N.")
        async def runs(chain: str | None = None, limit: int = 50) -> dict[str, Any]:
            return await self.call(lambda: self.runs(chain, limit))

        @mcp.tool(name="compare", description="Compare results: with runs=[A, B] (id prefixes, 'latest', "
                                                "'latest~1'), the parameters that differ and each metric's difference, "
                                                "with a paired bootstrap interval and p-value where predictions were saved; "
                                                "otherwise groups (group_by, default every parameter but seed) with n, "
                                                "mean, sd and 95% interval, filtered by step and where ['sigma>0', ...].")
        async def compare(runs: list[str] | None = None, step: str | None = None, where: list[str] | None = None,
                          group_by: list[str] | None = None, metrics: list[str] | None = None) -> dict[str, Any]:
            return await self.call(lambda: self.compare(runs or [], step, where or [], group_by, metrics or []))

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
        warnings: list[str] = []
        rows = api.ledger_rows(self.root, step, metric, warn=warnings.append)
        return {"rows": mcp_help.compact_rows(rows, limit), "total": len(rows), "warnings": warnings}

    def runs(self, chain: str | None, limit: int) -> dict[str, Any]:
        warnings: list[str] = []
        rows = api.runs(self.root, chain, limit if limit > 0 else None, warn=warnings.append)
        return {"runs": api.as_data(rows), "warnings": warnings}

    def compare(self, runs: list[str], step: str | None, where: list[str], group_by: list[str] | None,
                metrics: list[str]) -> dict[str, Any]:
        warnings: list[str] = []
        if runs:
            if len(runs) != 2:
                raise FlowError(f"compare: give two runs, not {len(runs)}")
            rc = api.compare_runs(self.root, runs[0], runs[1], tuple(metrics), warn=warnings.append)
            return {"diff": api.as_data(rc.diff), "plots": list(rc.plots), "warnings": warnings}
        cmp = api.compare(self.root, step, tuple(where), tuple(group_by) if group_by is not None else None,
                          tuple(metrics), warn=warnings.append)
        return {"table": api.as_data(cmp.table), "plots": list(cmp.plots), "warnings": warnings}

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
            raise ToolError(mcp_help.decisive_first(f"slashmake run failed (exit {status}):\n{output[-4000:]}"))
        return await self.call(lambda: self.summary(resolved, output, dry_run))

    async def _stream(self, argv: list[str], ctx: Context) -> tuple[int, str]:
        """Run ``argv`` (stdin closed: ours is the MCP channel); progress from Snakemake's step counts."""
        # Started shielded: a call cancelled mid-start would have asyncio kill the run's process alone,
        # leaving the jobs it had started to run on, holding the project's lock.
        with anyio.CancelScope(shield=True):
            proc = await asyncio.create_subprocess_exec(*argv, cwd=self.root, stdin=asyncio.subprocess.DEVNULL,
                                                        stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.STDOUT, start_new_session=True)
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
                with anyio.CancelScope(shield=True):  # the call is cancelled: wait all the same
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
        run_id = m.group(1) if (m := re.search(r"^run: (\S+)", output, re.M)) else ""
        return {"dry_run": dry_run, "nothing_to_do": nothing, "run_id": run_id, "results": "" if dry_run else
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
        # After symlinks: a link inside results/ to a file elsewhere is not the project's to serve.
        try:
            path = api.inside(self.root, rel, "resource")
        except FlowError as e:
            raise ResourceError(e.message) from None
        if not path.is_file():
            raise ResourceError(f"no file {rel.as_posix()} in the project")
        return path.read_text(encoding="utf-8", errors="replace")


def _variables(variables: dict[str, str]) -> dict[str, str]:
    return {k.lstrip("$"): str(v) for k, v in variables.items()}


def serve(root: Path) -> None:
    """Serve ``root`` over stdio until the client closes the connection."""
    SlashmakeServer(root).mcp.run("stdio")
