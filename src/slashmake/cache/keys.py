"""Each job's cache key, computed on the controller from Snakemake's own job graph.

The key starts from Snakemake's provenance hash (``snakemake.caching.hash.ProvenanceHashMap``, the
key of its between-workflow cache): the rule's shell command as written, its parameters, the
checksums of its inputs that no job makes, its software environment when Snakemake deploys one,
and the same hash of every job it depends on. Snakemake hashes the code of ``script:`` rules, but
a ``shell:`` rule's program is only a word in its command, so slashmake adds what the command
reads beside its inputs: every project file the command names (a script, a data file) and, for a Python file or ``python -m`` module, the
project modules it imports (transitively); and, unless ``mode: omit-software``, the rule's
software environment file and the Python version. Those additions are chained through the
dependencies too, so a changed script misses for its step and every step after it.

This is the one module that reaches into Snakemake's internals (the workflow behind its API, the
DAG and its persistence), pinned to the Snakemake release in pyproject.toml.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_WORD = re.compile(r"[A-Za-z0-9_./-]+")


@dataclass
class GraphJob:
    """A job of the graph, as the cache sees it."""

    rule: str
    key: str
    outputs: dict[str, Path]  # output name -> path, relative to the project
    logs: list[Path]
    needrun: bool
    deps: list[GraphJob]
    job: Any  # Snakemake's job, to record metadata for


class Code:
    """Digests of the project code a shell command runs, memoised for one graph."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.search = [self.root / "src", self.root]
        self.memo: dict[str, str] = {}

    def inside(self, path: Path) -> Path | None:
        """``path`` resolved, when it is a file of the project (outside its virtualenv); else None."""
        try:
            full = path.resolve()
        except OSError:
            return None
        return full if full.is_file() and full.is_relative_to(self.root) and ".venv" not in full.parts else None

    def module(self, name: str, near: Path | None) -> Path | None:
        """The project file of module ``name`` (beside ``near``, in src/, at the root), if any."""
        parts = name.split(".")
        for base in ([near] if near else []) + self.search:
            for cand in (base.joinpath(*parts).with_suffix(".py"), base.joinpath(*parts, "__init__.py")):
                found = self.inside(cand)
                if found is not None:
                    return found
        return None

    def imports(self, path: Path) -> list[Path]:
        """Project files a Python file imports (modules, packages and ``from pkg import mod``)."""
        try:
            tree = ast.parse(path.read_bytes())
        except (SyntaxError, ValueError, OSError):
            return []
        names: list[str] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.append(node.module)
                names += [f"{node.module}.{a.name}" for a in node.names]
        found = []
        for name in names:
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # a package's __init__ runs on the way to its module
                hit = self.module(".".join(parts[:i]), path.parent)
                if hit is not None:
                    found.append(hit)
        return found

    def files(self, shellcmd: str) -> list[Path]:
        """The project files a command runs: named files and modules, and what they import."""
        todo: list[Path] = []
        words = _WORD.findall(shellcmd)
        for i, word in enumerate(words):
            hit = self.inside(self.root / word) if not word.startswith(("-", "/")) else None
            if hit is None and i > 0 and words[i - 1] == "-m":
                hit = self.module(word, None)
            if hit is not None:
                todo.append(hit)
        seen: set[Path] = set()
        while todo:
            path = todo.pop()
            if path in seen:
                continue
            seen.add(path)
            if path.suffix == ".py":
                todo += self.imports(path)
        return sorted(seen)

    def digest(self, shellcmd: str) -> str:
        """A hash of the names and contents of the project files a command runs."""
        if shellcmd not in self.memo:
            h = hashlib.sha256()
            for path in self.files(shellcmd):
                h.update(path.relative_to(self.root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
            self.memo[shellcmd] = h.hexdigest()
        return self.memo[shellcmd]


def software(job: Any, root: Path) -> str:
    """The rule's software environment file (its ``conda:``) and the Python version."""
    h = hashlib.sha256(f"python {sys.version_info.major}.{sys.version_info.minor}".encode())
    env = job.rule.conda_env
    if env is not None:
        spec = Path(str(getattr(env, "file", env)))
        path = spec if spec.is_absolute() else Path(str(job.rule.basedir)) / spec
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()


@contextmanager
def job_graph(root: Path, target: str, config: dict[str, Any], forcerun: tuple[str, ...] = (),
              omit_software: bool = False) -> Iterator[tuple[list[GraphJob], Any]]:
    """Snakemake's job graph for ``target``, in dependency order, with each job's cache key.

    Yields the jobs and the workflow's persistence (to record a restored job as Snakemake records a
    finished one). Snakemake reads the workflow as ``snakemake <target> --config ...`` would.
    """
    from snakemake.api import SnakemakeApi
    from snakemake.caching.rule import CacheFlag, RuleCache
    from snakemake.settings.enums import Quietness
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        ExecutionSettings,
        OutputSettings,
        RemoteExecutionSettings,
        ResourceSettings,
    )

    cwd = os.getcwd()
    try:
        with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
            wf_api = api.workflow(ResourceSettings(cores=1), ConfigSettings(config=config),
                                  snakefile=root / "Snakefile", workdir=root)
            dag_api = wf_api.dag(DAGSettings(targets={target}, forcerun=set(forcerun)))
            workflow = dag_api.workflow_api._workflow
            # what Snakemake sets when it executes; its metadata record of a finished job reads them
            workflow.execution_settings = ExecutionSettings()
            workflow.remote_execution_settings = RemoteExecutionSettings()
            workflow._prepare_dag(forceall=False, ignore_incomplete=True, lock_warn_only=True, nolock=True)
            workflow._build_dag()
            dag = workflow.dag
            if omit_software:  # as a rule marked `cache: "omit-software"` would be hashed
                for rule in workflow.rules:
                    rule.cache = RuleCache(rule, CacheFlag.omit_software)
            yield _keyed(root, dag, omit_software), workflow.persistence
    finally:
        os.chdir(cwd)


def _keyed(root: Path, dag: Any, omit_software: bool) -> list[GraphJob]:
    hashes = ProvenanceHashes()
    code = Code(root)
    out: dict[Any, GraphJob] = {}
    for level in dag.toposorted():
        for job in level:
            deps = [out[d] for d in dag.dependencies[job] if d in out]
            h = hashlib.sha256(dag.workflow.async_run(hashes.of(job)).encode())
            h.update(code.digest(job.rule.shellcmd or "").encode())
            if not omit_software:
                h.update(software(job, root).encode())
            for dep_key in sorted(d.key for d in deps):
                h.update(dep_key.encode())
            names = dict(job.output._allitems())
            out[job] = GraphJob(job.rule.name, h.hexdigest(),
                                {str(n): Path(str(f)) for n, f in names.items() if n is not None},
                                [Path(str(f)) for f in job.log], dag.needrun(job), deps, job)
    return list(out.values())


class ProvenanceHashes:
    """Snakemake's provenance hash of each job, shared across the graph (it recurses into dependencies)."""

    def __init__(self) -> None:
        from snakemake.caching.hash import ProvenanceHashMap

        self.map = ProvenanceHashMap()

    async def of(self, job: Any) -> str:
        """Snakemake's provenance hash of ``job``."""
        return str(await self.map.get_provenance_hash(job))


async def record(persistence: Any, job: Any) -> None:
    """Record a restored job's metadata as Snakemake records a finished job's (parameters, code, inputs)."""
    await persistence.finished(job)
