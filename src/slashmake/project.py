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

from . import __version__
from .configfile import ConfigDoc, check_param_overrides, read_config
from .configfile import load_config as load_config  # re-exported: callers import them from here
from .configfile import validate_config as validate_config
from .definitions import Definitions, load, slug
from .errors import DefinitionError

if TYPE_CHECKING:
    from .names import RuleNames
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
    config_doc: ConfigDoc = field(default_factory=ConfigDoc)
    macro_errors: dict[str, DefinitionError] = field(default_factory=dict)

    @classmethod
    def open(cls, root: Path | str = ".", config_file: str | None = None) -> Project:
        """Read the project's config (validated against its schema)."""
        root = Path(root).resolve()
        project = cls(root)
        project.config_doc = read_config(root, config_file)
        project.config = dict(project.config_doc.data)
        return project

    @property
    def defs(self) -> Definitions:
        """Every definition (plugins listed in config too); config's parameter overrides checked."""
        if self._defs is None:
            plugins = self.config.get("plugins") or []
            self._defs = load(self.root, [str(p) for p in plugins])
            check_param_overrides(self.config_doc, self._defs)
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
        names.append(f"environment.yml:{(self.root / 'environment.yml').exists()}")  # rules get conda: with it
        h.update(json.dumps([names, self.config.get("params") or {}, self.agent_config(), overrides or {}],
                            sort_keys=True).encode())
        return h.hexdigest()[:16]

    # -- macros ----------------------------------------------------------------------------------
    def macros(self) -> list[str]:
        """Names of the commands that are flows (macros), sorted."""
        return sorted(n for n, c in self.defs.commands.items() if c.kind == "flow")

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
        # In file order, as the Snakefile includes them: a step two flows share is defined in the first.
        flows: list[tuple[str, Resolved]] = []
        for name in sorted(self.macros(), key=lambda n: f"{slug(n)}.smk"):
            try:
                flows.append((name, self._resolve(f"/{name.replace('/', ':')}", name)))
            except DefinitionError as e:  # it uses a bad file: only running this macro fails
                self.macro_errors[name] = e
        names = self.rule_names()
        names.keep_only({s.key for _, r in flows for s in r.steps})
        for name, resolved in flows:
            names.name(resolved.steps)
            try:
                text = self.compile_resolved(resolved, name, defined)
            except DefinitionError as e:
                self.macro_errors[name] = e
                continue
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
        names.save(self.root)
        return changed

    def rule_names(self) -> RuleNames:
        """The project's table of rule names (see :mod:`.names`); flow targets are reserved."""
        from .names import RuleNames

        return RuleNames.load(self.root, reserved={target_name(m) for m in self.macros()})

    def macro_rules(self) -> dict[str, str]:
        """Rule names defined by the compiled macros, with the file defining each."""
        folder = self.root / COMPILED
        return {r: p.name for p in sorted(folder.glob("*.smk")) for r in _RULE_LINE.findall(p.read_text())}

    def resolve_chain(self, chain: str, name: str, source_name: str = "<chain>",
                      overrides: dict[str, str] | None = None) -> Resolved:
        """parse → resolve, with the config's parameter overrides; steps named from the project's table."""
        resolved = self._resolve(chain, name, source_name, overrides)
        self.rule_names().name(resolved.steps)
        return resolved

    def _resolve(self, chain: str, name: str, source_name: str = "<chain>",
                 overrides: dict[str, str] | None = None) -> Resolved:
        from .parser import parse  # imported here: a Snakefile start with a fresh cache needs neither
        from .resolve import resolve

        flow = parse(chain, source_name)
        return resolve(flow, self.defs, name, chain, overrides=overrides,
                       param_overrides=self.config.get("params") or {}, agent_config=self.agent_config())

    def compile_flow(self, chain: str, name: str, skip: dict[str, str], overrides: dict[str, str] | None = None,
                     source_name: str = "<chain>", target: str | None = None) -> tuple[str, Resolved]:
        """The compiled text of one flow (a macro's name or an ad-hoc chain), and its resolved steps."""
        resolved = self.resolve_chain(chain, name, source_name, overrides)
        return self.compile_resolved(resolved, name, skip, overrides, target), resolved

    def compile_resolved(self, resolved: Resolved, name: str, skip: dict[str, str],
                         overrides: dict[str, str] | None = None, target: str | None = None) -> str:
        """The compiled text of a resolved flow whose steps have their rule names."""
        from .compile import compile_text, header_lines

        chain = resolved.chain
        sources = [_rel(s, self.root) for s in sorted(resolved.sources)]
        header = header_lines(name, chain, sources, self.sources_hash(sources, overrides))
        text = compile_text(resolved, self.defs, target or target_name(name), f"results/{slug(name)}/index.json",
                            header, skip, self.agent_config())
        return text

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
