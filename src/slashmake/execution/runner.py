"""Every call into Snakemake lives here: argument lists built by pure functions, run without a shell.

slashmake drives Snakemake through its own command line (in this process for a run, in a child
when the output is read), the same way a user does, so `slashmake run` and
`snakemake -c2 <flow>` behave the same.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from slashmake.errors import RunError
from slashmake.execution import slurm_plugin

SNAKEMAKE = [sys.executable, "-m", "snakemake"]
EXECUTORS = ("local", "slurm", "runpod")


@dataclass(frozen=True)
class Invocation:
    """What to ask Snakemake for."""

    target: str
    cores: int = 2
    dry_run: bool = False
    executor: str = "local"
    profile: str | None = None
    forcerun: tuple[str, ...] = ()
    chain_file: str | None = None
    report: str | None = None
    extra: tuple[str, ...] = ()
    quiet: bool = False
    until: tuple[str, ...] = ()
    set_threads: tuple[str, ...] = ()  # RULE=N
    set_resources: tuple[str, ...] = ()  # RULE:NAME=VALUE
    # The compiled flows (rules/compiled/<name>.smk) the Snakefile includes; None: every one.
    flows: tuple[str, ...] | None = None
    # Where the executor ships a job group as one unit (runpod): GROUP=N merges a sweep's N variants.
    group_components: tuple[str, ...] = ()
    # Show only progress and errors (Snakemake's full log stays in .snakemake/log/); False: everything, live.
    brief: bool = False
    # The run's id (SLASHMAKE_RUN_ID for its jobs and the ledger); "" draws a fresh one.
    run_id: str = ""
    # A report's front page: the workflow description (an .rst the Snakefile's `report:` reads, given
    # as config slashmake_front) and the landing page's metadata (--report-metadata).
    report_front: str | None = None
    report_metadata: str | None = None
    report_stylesheet: str | None = None  # --report-stylesheet


def new_run_id() -> str:
    """A fresh run id: the start time, this process and a sub-second part (sortable by time)."""
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{time.time_ns() % 10**6}"


def snakemake_argv(inv: Invocation) -> list[str]:
    """The argv for one Snakemake run (pure: tested without running anything).

    The target comes first: ``--forcerun`` and ``--config`` take several values and would
    swallow a target that followed them.
    """
    argv = [*SNAKEMAKE, inv.target]
    for option, values in (("--forcerun", inv.forcerun), ("--until", inv.until),
                           ("--set-threads", inv.set_threads), ("--set-resources", inv.set_resources)):
        if values:
            argv += [option, *values]
    argv += ["--cores", str(inv.cores)]
    if inv.profile:
        argv += ["--profile", inv.profile]
        if inv.executor != "local":
            argv += ["--executor", inv.executor]
    elif inv.executor != "local":
        argv += ["--profile", f"config/profiles/{inv.executor}"]  # the profile names the executor
    if inv.dry_run:
        argv += ["--dry-run"]
        if inv.quiet:
            argv += ["--quiet", "rules"]  # the job table, not one block per job
    if inv.report:
        argv += ["--report", inv.report]
        if inv.report_metadata:
            argv += ["--report-metadata", inv.report_metadata]
        if inv.report_stylesheet:
            argv += ["--report-stylesheet", inv.report_stylesheet]
    argv += list(inv.extra)
    config = [f"slashmake_chain={inv.chain_file}"] if inv.chain_file else []
    if inv.executor == "runpod":
        # A sweep's rule is in group sweep_<rule> under this switch (the runpod profile sets it too;
        # --config here replaces the profile's), and its variants travel to the pod as one job.
        config.append("slashmake_group_sweeps=1")
        if inv.group_components:
            argv += ["--group-components", *inv.group_components]
    if inv.report and inv.report_front:
        config.append(f"slashmake_front={inv.report_front}")
    if inv.flows is not None:
        config.append(f"slashmake_flows=[{','.join(inv.flows)}]")  # a YAML list: Snakemake reads it so
    if config:
        argv += ["--config", *config]
    return argv


def run(inv: Invocation, root: Path, capture: bool = False) -> subprocess.CompletedProcess[str]:
    """Run Snakemake in ``root``; raise RunError (with the end of its output) when it fails."""
    argv = snakemake_argv(inv)
    (root / ".slashmake").mkdir(exist_ok=True)
    with open(root / ".slashmake" / "run.lock", "w") as lock:
        try:  # held while Snakemake runs (its jobs inherit it): free again only when all are gone
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunError("another `slashmake run` is running in this project") from None
        # a fresh id per run: agent steps sum their cost under it (agent.max_cost_usd)
        os.environ["SLASHMAKE_RUN_ID"] = inv.run_id or new_run_id()
        if not inv.dry_run and any((root / ".snakemake" / "locks").glob("*.lock")):
            # Nobody holds run.lock, so Snakemake's locks are left over from a killed run.
            subprocess.run([*SNAKEMAKE, "--unlock", "--cores", "1"], cwd=root,  # noqa: S603
                           capture_output=True, text=True)
        if capture:  # its own process (the caller may be a server's thread), the SLURM report deferred
            launch = [sys.executable, "-m", "slashmake.execution.snakemake_main", *argv[len(SNAKEMAKE):]]
            proc = subprocess.run(launch, cwd=root, text=True, capture_output=True)  # noqa: S603
        elif inv.brief:
            status, lines = brief_output(lambda: in_process(argv[len(SNAKEMAKE):], root))
            proc = subprocess.CompletedProcess(argv, status, "\n".join(lines), "")
        else:
            proc = subprocess.CompletedProcess(argv, in_process(argv[len(SNAKEMAKE):], root))
    if proc.returncode != 0:
        tail = (proc.stdout or "")[-1500:] + (proc.stderr or "")[-1500:] if capture else ""
        if inv.brief and not capture:
            tail = error_lines(proc.stdout.splitlines())
        raise RunError(f"snakemake exited with status {proc.returncode}" + (f":\n{tail}" if tail else
                       " (its output is above)"))
    return proc


def brief_output(fn: Callable[[], int]) -> tuple[int, list[str]]:
    """Run ``fn`` with this process's stdout and stderr (and its jobs') read, not shown; ``fn``'s result and the lines.

    Only progress (``3 of 5 steps (60%) done``), "Nothing to be done" and slashmake's own
    ``slashmake:``/``warning:`` lines reach the terminal (and, on stderr, the executors' lines:
    a SLURM run id and job ids, what happened to a pod), as they come: the banner, the DAG table
    and the per-job blocks stay in Snakemake's log (``.snakemake/log/``).
    """
    sys.stdout.flush()
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    saved_out, saved_err = os.dup(1), os.dup(2)
    lines: list[str] = []

    def pump() -> None:
        with os.fdopen(read_end, "rb") as pipe:
            for raw in pipe:
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                lines.append(line)
                if _SHOWN.match(line.strip()):
                    os.write(saved_out, (line.strip() + "\n").encode())
                elif _EXECUTOR.search(line):  # where a job went (a SLURM id, a pod): the user's to see
                    os.write(saved_err, (line.strip() + "\n").encode())

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    os.dup2(write_end, 1)
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        status = fn()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_out, 1)  # the pipe's last write ends close here, so the reader ends
        os.dup2(saved_err, 2)
        reader.join(timeout=10)  # a job left running in the background may hold the pipe: do not wait on it
        os.close(saved_out)
        os.close(saved_err)
    return status, lines


def error_lines(lines: list[str], limit: int = 40) -> str:
    """The decisive part of a failed run's output: from its first error line on, and where the full log is."""
    start = next((i for i, line in enumerate(lines) if _ERROR.search(line)), max(0, len(lines) - limit))
    chosen = [line for line in lines[start:start + limit] if line.strip()]
    log = [line for line in lines if line.startswith("Complete log")]
    return "\n".join(chosen + [line for line in log if line not in chosen])


_SHOWN = re.compile(r"^(\d+ of \d+ steps \(\d+%\) done|Nothing to be done|slashmake: |warning: )")
_EXECUTOR = re.compile(r"^runpod: |SLURM run ID: |has been submitted with SLURM jobid")
_ERROR = re.compile(r"\b(Error|Exception)\b|^error:|^slashmake: error")


def in_process(args: list[str], root: Path) -> int:
    """Run Snakemake's own command line in this process; its exit status.

    The same as running `snakemake ARGS` in ``root``, without paying for a second interpreter
    and a second import of Snakemake (a tenth of a second on every run).
    """
    slurm_plugin.lighten()
    from snakemake.cli import main as snakemake_main

    cwd = os.getcwd()
    os.chdir(root)
    try:
        snakemake_main(args)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        os.chdir(cwd)
    return 0


@dataclass(frozen=True)
class PlannedJob:
    """A job of a dry run and Snakemake's reason for it."""

    rule: str
    reason: str
    wildcards: str


_JOB = re.compile(r"^(?:rule|checkpoint|localrule|localcheckpoint) (\w+):\s*$")


def parse_dry_run(text: str) -> list[PlannedJob]:
    """The jobs a ``--dry-run`` listed, with reasons (Snakemake prints one block per job)."""
    jobs: list[PlannedJob] = []
    rule: str | None = None
    reason, wildcards = "", ""
    for line in text.splitlines():
        m = _JOB.match(line.strip())
        if m:
            if rule is not None:
                jobs.append(PlannedJob(rule, reason, wildcards))
            rule, reason, wildcards = m.group(1), "", ""
        elif rule is not None and line.strip().startswith("reason:"):
            reason = line.split("reason:", 1)[1].strip()
        elif rule is not None and line.strip().startswith("wildcards:"):
            wildcards = line.split("wildcards:", 1)[1].strip()
    if rule is not None:
        jobs.append(PlannedJob(rule, reason, wildcards))
    return jobs


def dag_dot(inv: Invocation, root: Path, graph: str = "--dag") -> str:
    """Snakemake's job graph (``--dag``) or rule graph (``--rulegraph``) as Graphviz dot text."""
    argv = [*snakemake_argv(Invocation(inv.target, chain_file=inv.chain_file)), graph, "--quiet", "all"]
    proc = subprocess.run(argv, cwd=root, text=True, capture_output=True)  # noqa: S603
    if proc.returncode != 0:
        raise RunError(f"snakemake --dag failed: {proc.stderr[-1500:]}")
    start = proc.stdout.find("digraph")
    return proc.stdout[start:] if start >= 0 else proc.stdout


def render_dot(dot: str, out: Path) -> None:
    """Draw dot text to SVG or PNG (by the file's suffix) with Graphviz."""
    exe = shutil.which("dot")
    if exe is None:
        raise RunError("Graphviz's `dot` is not installed (apt-get install graphviz)")
    fmt = out.suffix.lstrip(".") or "svg"
    if fmt not in ("svg", "png", "pdf"):
        raise RunError(f"cannot draw a {fmt!r} file: use .svg, .png or .pdf")
    proc = subprocess.run([exe, f"-T{fmt}", "-o", str(out)], input=dot, text=True, capture_output=True)  # noqa: S603
    if proc.returncode != 0:
        raise RunError(f"dot failed: {proc.stderr[-800:]}")
