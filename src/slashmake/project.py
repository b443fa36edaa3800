"""A slashmake project on disk: its config, its definitions, and its compiled flows.

This is where the pipeline reads as a chain: ``parse → resolve → compile`` for every macro (into
``rules/compiled/<flow>.smk``) and for ad-hoc chains (into ``.slashmake/chains/<hash>.smk``).
Compiled files carry a hash of their sources, so they are rebuilt only when a source changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from . import __version__
from .definitions import Definitions, load, slug
from .errors import CompileError, ResolveError, Source, Span

if TYPE_CHECKING:
    from .resolve import Resolved

COMPILED = Path("rules/compiled")
CHAINS = Path(".slashmake/chains")
_HASH_LINE = re.compile(r"^# sources-hash: (\w+)$", re.M)
_SOURCES_LINE = re.compile(r"^# sources: (.*)$", re.M)
_RULE_LINE = re.compile(r"^(?:rule|checkpoint) (\w+):", re.M)


@dataclass
class Project:
    """The files of one project, rooted at the folder holding the Snakefile."""

    root: Path
    config: dict[str, Any] = field(default_factory=dict)
    _defs: Definitions | None = None

    @classmethod
    def open(cls, root: Path | str = ".", config_file: str | None = None) -> Project:
        """Read the project's config (validated against its schema)."""
        root = Path(root).resolve()
        project = cls(root)
        project.config = load_config(root, config_file)
        return project

    @property
    def defs(self) -> Definitions:
        if self._defs is None:
            self._defs = load(self.root)
        return self._defs

    def agent_config(self) -> dict[str, Any]:
        agent = self.config.get("agent") or {}
        return {k: agent.get(k) for k in ("program", "tools_format", "timeout") if agent.get(k) is not None}

    # -- hashing ---------------------------------------------------------------------------------
    def sources_hash(self, sources: list[str], overrides: dict[str, str] | None = None) -> str:
        """What a compiled flow depends on: its source files, the set of definition names, config."""
        h = hashlib.sha256(__version__.encode() + code_digest().encode())
        for rel in sources:
            path = self.root / rel
            h.update(rel.encode() + b"\0" + (path.read_bytes() if path.exists() else b"<missing>") + b"\0")
        names = sorted(p.relative_to(self.root).as_posix() for p in self.defs.files())
        h.update(json.dumps([names, self.config.get("params") or {}, self.agent_config(), overrides or {}],
                            sort_keys=True).encode())
        return h.hexdigest()[:16]

    # -- macros ----------------------------------------------------------------------------------
    def macros(self) -> list[str]:
        """Names of the commands that are flows (macros), sorted; one-line aliases of a step are not flows."""
        return sorted(n for n, c in self.defs.commands.items() if c.kind == "flow" and not self.alias_of_step(c.flow))

    def alias_of_step(self, flow: str | None) -> bool:
        """Whether a macro's flow is one call of a command that runs a program (``flow: /ml-deploy``).

        Such an alias names a step, not a flow: it is compiled where it is used (its inputs come
        from there), never alone, where its inputs have no producer.
        """
        m = _ALIAS.fullmatch((flow or "").strip())
        target = self.defs.commands.get(m.group(1).replace(":", "/")) if m else None
        return target is not None and target.kind != "flow"

    def stale(self) -> bool:
        """Whether any compiled flow is missing, orphaned, or out of date with its sources."""
        names = {slug(n) for n in self.macros()}
        folder = self.root / COMPILED
        present = {p.stem for p in folder.glob("*.smk")} if folder.is_dir() else set()
        if names != present:
            return True
        for name in names:
            text = (folder / f"{name}.smk").read_text()
            m, s = _HASH_LINE.search(text), _SOURCES_LINE.search(text)
            if not m or not s or self.sources_hash(s.group(1).split()) != m.group(1):
                return True
        return False

    def compile_macros(self, force: bool = False) -> list[Path]:
        """(Re)write ``rules/compiled/<flow>.smk`` for every macro; return the files that changed."""
        if not force and not self.stale():
            return []
        folder = self.root / COMPILED
        folder.mkdir(parents=True, exist_ok=True)
        changed: list[Path] = []
        defined: dict[str, str] = {}
        wanted: set[str] = set()
        for name in self.macros():
            text, _ = self.compile_flow(f"/{name.replace('/', ':')}", name, defined)
            path = folder / f"{slug(name)}.smk"
            wanted.add(path.name)
            defined.update({r: path.name for r in _RULE_LINE.findall(text) if r not in defined})
            if not path.exists() or path.read_text() != text:
                _write(path, text)
                changed.append(path)
        for old in folder.glob("*.smk"):
            if old.name not in wanted:
                old.unlink()
                changed.append(old)
        return changed

    def macro_rules(self) -> dict[str, str]:
        """Rule names defined by the compiled macros, with the file defining each."""
        folder = self.root / COMPILED
        return {r: p.name for p in sorted(folder.glob("*.smk")) for r in _RULE_LINE.findall(p.read_text())}

    def resolve_chain(self, chain: str, name: str, source_name: str = "<chain>",
                      overrides: dict[str, str] | None = None) -> Resolved:
        """parse → resolve, with the config's parameter overrides."""
        from .parser import parse  # imported here: a Snakefile start with a fresh cache needs neither
        from .resolve import resolve

        flow = parse(chain, source_name)
        return resolve(flow, self.defs, name, chain, overrides=overrides,
                       param_overrides=self.config.get("params") or {}, agent_config=self.agent_config())

    def compile_flow(self, chain: str, name: str, skip: dict[str, str], overrides: dict[str, str] | None = None,
                     source_name: str = "<chain>", target: str | None = None) -> tuple[str, Resolved]:
        """The compiled text of one flow (a macro's name or an ad-hoc chain), and its resolved steps."""
        from .compile import compile_text, header_lines

        resolved = self.resolve_chain(chain, name, source_name, overrides)
        sources = [_rel(s, self.root) for s in sorted(resolved.sources)]
        header = header_lines(name, chain, sources, self.sources_hash(sources, overrides))
        text = compile_text(resolved, self.defs, target or target_name(name), f"results/{slug(name)}/index.json",
                            header, skip, self.agent_config())
        return text, resolved

    def compile_chain(self, chain: str, overrides: dict[str, str] | None = None,
                      source_name: str = "<chain>") -> tuple[str, Path, Resolved]:
        """Compile an ad-hoc chain (or a single macro call with --set) into the cache; return target and file."""
        self.compile_macros()
        digest = hashlib.sha256(json.dumps([chain, overrides or {}], sort_keys=True).encode()).hexdigest()[:10]
        name = f"chain-{digest}"
        target = f"chain_{digest}"
        text, resolved = self.compile_flow(chain, name, self.macro_rules(), overrides, source_name, target)
        path = self.root / CHAINS / f"{name}.smk"
        if not path.exists() or path.read_text() != text:
            _write(path, text)
        return target, path, resolved


_ALIAS = re.compile(r"/([\w:-]+)")


def target_name(flow: str) -> str:
    """The rule that runs a macro: `snakemake -c2 ml_pipeline_full` for /ml-pipeline-full."""
    name = re.sub(r"\W", "_", slug(flow))
    return f"flow_{name}" if name[0].isdigit() else name


_CODE_DIGEST: list[str] = []


def code_digest() -> str:
    """A hash of the compiler's own code: a new slashmake recompiles every flow."""
    if not _CODE_DIGEST:
        h = hashlib.sha256()
        for f in sorted(Path(__file__).parent.glob("*.py")):
            h.update(f.read_bytes())
        _CODE_DIGEST.append(h.hexdigest()[:16])
    return _CODE_DIGEST[0]


def _rel(path: str, root: Path) -> str:
    p = Path(path)
    return p.relative_to(root).as_posix() if p.is_absolute() and p.is_relative_to(root) else path


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def load_config(root: Path, config_file: str | None = None) -> dict[str, Any]:
    """Read ``config/config.yaml`` and check it against ``config/schema.yaml``."""
    path = root / (config_file or "config/config.yaml")
    if not path.exists():
        return {}
    text = path.read_text()
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        pos = mark.index if mark else 0
        raise ResolveError(f"invalid YAML: {getattr(e, 'problem', e)}", Span(Source(str(path), text), pos, pos + 1)) \
            from None
    try:
        validate_config(root, data)
    except CompileError as e:
        raise CompileError(f"{path.relative_to(root)}: {e.message}") from None
    return dict(data)


def validate_config(root: Path, data: Any) -> None:
    """Check a config against ``config/schema.yaml``, once per change (jsonschema costs ~0.1 s a start)."""
    schema_path = root / "config/schema.yaml"
    if not schema_path.exists():
        return
    schema_text = schema_path.read_text()
    # Keys slashmake itself passes with --config (slashmake_chain...) change per run: leave them out.
    user = {k: v for k, v in data.items() if not str(k).startswith("slashmake_")} if isinstance(data, dict) else data
    digest = hashlib.sha256((json.dumps(user, sort_keys=True, default=str) + "\0" + schema_text).encode()).hexdigest()
    marker = root / ".slashmake" / "config-valid"
    if marker.exists() and marker.read_text() == digest:
        return
    import jsonschema

    try:
        jsonschema.validate(data, yaml.safe_load(schema_text))
    except jsonschema.ValidationError as e:
        where = ".".join(str(p) for p in e.absolute_path) or "(top level)"
        raise CompileError(f"config '{where}': {e.message}") from None
    try:
        _write(marker, digest)
    except OSError:
        pass  # a read-only project still runs; it validates every time
