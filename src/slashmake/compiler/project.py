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

import slashmake
from slashmake.agents.program import AGENT_CONFIG_KEYS
from slashmake.compiler.names import REGISTRY, RuleNames
from slashmake.definitions import Definitions, load, slug
from slashmake.definitions.config import ConfigDoc, check_param_overrides, read_config
from slashmake.definitions.config import load_config as load_config
from slashmake.definitions.config import validate_config as validate_config
from slashmake.errors import DefinitionError

if TYPE_CHECKING:
    from slashmake.compiler.resolve import Resolved

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
        return {k: agent.get(k) for k in AGENT_CONFIG_KEYS if agent.get(k) is not None}

    # -- hashing ---------------------------------------------------------------------------------
    def sources_hash(self, sources: list[str], overrides: dict[str, str] | None = None) -> str:
        """What a compiled flow depends on: its source files, the set of definition names, config."""
        h = hashlib.sha256(slashmake.__version__.encode() + code_digest().encode())
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
        """Names of the commands that are flows (macros), sorted; one-line aliases of a step are not flows."""
        return sorted(n for n, c in self.defs.commands.items() if c.kind == "flow" and not self.alias_of_step(c.flow))

    def alias_of_step(self, flow: str | None) -> bool:
        """Whether a macro's flow is one call of a command that reads upstream files (``flow: /ml-deploy``).

        Such an alias names a step, not a flow: it is compiled where it is used (its inputs come
        from there), never alone, where its inputs have no producer. An alias of a command that
        needs no upstream file stands alone, so ``snakemake <alias>`` still runs it.
        """
        m = _ALIAS.fullmatch((flow or "").strip())
        target = self.defs.commands.get(m.group(1).replace(":", "/")) if m else None
        return (target is not None and target.kind != "flow"
                and any(name not in target.optional_inputs for name in target.inputs))

    def stale(self) -> bool:
        """Whether any compiled flow is missing, orphaned, or out of date with its sources."""
        return bool(self.stale_flows())

    def stale_flows(self) -> list[str]:
        """The compiled flows (file stems) that are missing, orphaned, or out of date with their sources."""
        names = {slug(n) for n in self.macros()}
        folder = self.root / COMPILED
        present = {p.stem for p in folder.glob("*.smk")} if folder.is_dir() else set()
        out = sorted(names ^ present)
        for name in sorted(names & present):
            if not (folder / f"{name}.json").exists():
                out.append(name)
                continue
            text = (folder / f"{name}.smk").read_text()
            m, s = _HASH_LINE.search(text), _SOURCES_LINE.search(text)
            if not m or not s or self.sources_hash(s.group(1).split()) != m.group(1):
                out.append(name)
        return out

    def compile_macros(self, force: bool = False) -> list[Path]:
        """(Re)write ``rules/compiled/<flow>.smk`` and its data file for every macro; return what changed.

        A flow's data file (``<flow>.json``) holds its index and ``needs``: the compiled flows that
        define steps it shares (computed once, in the first flow that has them), so a run includes
        only the files its target needs.
        """
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
        # New names go first to steps a chain writes, then to those pulled in by a command's needs.
        for written in (True, False):
            for _, resolved in flows:
                names.name([s for s in resolved.steps if (not s.origin) == written])
        for name, resolved in flows:
            path = folder / f"{slug(name)}.smk"
            try:
                text = self.compile_resolved(resolved, name, defined,
                                             index_file=(COMPILED / f"{slug(name)}.json").as_posix())
            except DefinitionError as e:
                self.macro_errors[name] = e
                continue
            data = self.flow_data(resolved, defined)
            wanted.update((path.name, f"{path.stem}.json"))
            defined.update({r: path.name for r in _RULE_LINE.findall(text) if r not in defined})
            for file, content in ((path, text), (path.with_suffix(".json"), data)):
                if not file.exists() or file.read_text() != content:
                    _write(file, content)
                    changed.append(file)
        wanted.add(REGISTRY.name)
        for old in [*folder.glob("*.smk"), *folder.glob("*.json")]:
            if old.name not in wanted:
                old.unlink()
                changed.append(old)
        names.save(self.root)
        return changed

    def rule_names(self) -> RuleNames:
        """The project's table of rule names (see :mod:`.names`); flow targets are reserved."""
        from slashmake.compiler.names import RuleNames

        return RuleNames.load(self.root, reserved={target_name(m) for m in self.macros()})

    def flow_data(self, resolved: Resolved, defined: dict[str, str]) -> str:
        """The JSON data file of a flow: its index, and the compiled flows it needs (in include order)."""
        from slashmake.compiler.rules import index_data

        needs: set[str] = set()
        for step in resolved.steps:
            if step.rule in defined:
                stem = Path(defined[step.rule]).stem
                needs.update((stem, *self._needs(stem)))
        # the include order (file names sorted): a flow's file comes after those whose rules it uses
        order = sorted((slug(n) for n in self.macros()), key=lambda stem: f"{stem}.smk")
        data = {**index_data(resolved), "needs": [n for n in order if n in needs]}
        return json.dumps(data, indent=1, sort_keys=True) + "\n"

    def _needs(self, stem: str) -> list[str]:
        return self._needs_file(self.root / COMPILED / f"{stem}.json")

    def flows_needed(self, target: str, chain_file: str | None) -> tuple[str, ...]:
        """The compiled flows a run of ``target`` includes: its own (for a macro) and those it needs."""
        if chain_file is not None:
            stems = self._needs_file(self.root / Path(chain_file).with_suffix(".json"))
        else:
            own = next((slug(n) for n in self.macros() if target_name(n) == target), None)
            stems = [*self._needs(own), own] if own else [p.stem for p in sorted((self.root / COMPILED).glob("*.smk"))]
        return tuple(stems)

    @staticmethod
    def _needs_file(path: Path) -> list[str]:
        try:
            needs = json.loads(path.read_text()).get("needs")
        except (OSError, ValueError):
            return []
        return [str(n) for n in needs] if isinstance(needs, list) else []

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
        from slashmake.compiler.resolve import resolve
        from slashmake.language.parser import parse

        flow = parse(chain, source_name)
        return resolve(flow, self.defs, name, chain, overrides=overrides,
                       param_overrides=self.config.get("params") or {}, agent_config=self.agent_config())

    def compile_flow(self, chain: str, name: str, skip: dict[str, str], overrides: dict[str, str] | None = None,
                     source_name: str = "<chain>", target: str | None = None,
                     index_file: str = "") -> tuple[str, Resolved]:
        """The compiled text of one flow (a macro's name or an ad-hoc chain), and its resolved steps."""
        resolved = self.resolve_chain(chain, name, source_name, overrides)
        return self.compile_resolved(resolved, name, skip, overrides, target, index_file), resolved

    def compile_resolved(self, resolved: Resolved, name: str, skip: dict[str, str],
                         overrides: dict[str, str] | None = None, target: str | None = None,
                         index_file: str = "") -> str:
        """The compiled text of a resolved flow whose steps have their rule names."""
        from slashmake.compiler.rules import compile_text, header_lines

        chain = resolved.chain
        sources = [_rel(s, self.root) for s in sorted(resolved.sources)]
        header = header_lines(name, chain, sources, self.sources_hash(sources, overrides))
        text = compile_text(resolved, self.defs, target or target_name(name), f"results/{slug(name)}/index.json",
                            header, skip, self.agent_config(), index_file or f"{CHAINS.as_posix()}/{name}.json")
        return text

    def compile_chain(self, chain: str, overrides: dict[str, str] | None = None,
                      source_name: str = "<chain>") -> tuple[str, Path, Resolved]:
        """Compile an ad-hoc chain (or a single macro call with --set) into the cache; return target and file."""
        self.compile_macros()
        digest = hashlib.sha256(json.dumps([chain, overrides or {}], sort_keys=True).encode()).hexdigest()[:10]
        name = f"chain-{digest}"
        target = f"chain_{digest}"
        defined = self.macro_rules()
        resolved = self.resolve_chain(chain, name, source_name, overrides)
        path = self.root / CHAINS / f"{name}.smk"
        # What the compiled text depends on beyond the chain: its sources (and slashmake's code),
        # the rules the project's flows already define, and the steps' rule names. Unchanged, the
        # file on disk is the text compiling would give.
        sources = [_rel(s, self.root) for s in sorted(resolved.sources)]
        key = hashlib.sha256(json.dumps([self.sources_hash(sources, overrides), sorted(defined.items()),
                                         [s.rule for s in resolved.steps]]).encode()).hexdigest()[:16]
        stamp = path.with_suffix(".key")
        if path.exists() and path.with_suffix(".json").exists() and stamp.exists() and stamp.read_text() == key:
            return target, path, resolved
        text = self.compile_resolved(resolved, name, defined, overrides, target)
        for file, content in ((path, text), (path.with_suffix(".json"), self.flow_data(resolved, defined)),
                              (stamp, key)):
            if not file.exists() or file.read_text() != content:
                _write(file, content)
        return target, path, resolved


_ALIAS = re.compile(r"/([\w:-]+)")


def target_name(flow: str) -> str:
    """The rule that runs a macro: `snakemake -c2 ml_pipeline_full` for /ml-pipeline-full."""
    name = re.sub(r"\W", "_", slug(flow))
    return f"flow_{name}" if name[0].isdigit() else name


_CODE_DIGEST: list[str] = []


# The stages whose code shapes a compiled file's text; a change elsewhere (running, the CLI, the
# MCP server, job-side programs) leaves every committed flow current.
_SHAPING = ("language", "definitions", "agents", "compiler")


def code_digest() -> str:
    """A hash of the code that writes compiled flows: a changed compiler recompiles every flow."""
    if not _CODE_DIGEST:
        h = hashlib.sha256()
        package = Path(slashmake.__file__).parent
        for f in sorted(f for stage in _SHAPING for f in (package / stage).glob("*.py")):
            h.update(f.relative_to(package).as_posix().encode() + b"\0" + f.read_bytes())
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
