"""``config/config.yaml``: read, checked against ``config/schema.yaml``, errors with ``file:line:col``.

Parameter overrides (``params:``) are checked against the commands once definitions load: each
names a parameter some command declares (``epochs``) or one command's parameter
(``ml-train.epochs``), with a value of the default's type.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from slashmake.definitions.files import find_node, node_span, read_capped
from slashmake.definitions.model import Definitions
from slashmake.errors import ConfigError, DefinitionError, Source, Span, closest


@dataclass
class ConfigDoc:
    """A config file's data and its YAML nodes, for positions."""

    data: dict[str, Any] = field(default_factory=dict)
    source: Source | None = None
    node: yaml.Node | None = None

    def span(self, *keys: str | int, value: bool = True) -> Span | None:
        """Where a path of keys sits in the file (the nearest part that is there), or None."""
        if self.source is None or self.node is None:
            return None
        found = find_node(self.node, keys, value)
        if found is None:
            return Span(self.source, 0, 1)
        return node_span(self.source, found)


def read_config(root: Path, config_file: str | None = None) -> ConfigDoc:
    """Read and check ``config/config.yaml`` (an empty config when there is none)."""
    path = root / (config_file or "config/config.yaml")
    if not path.exists():
        return ConfigDoc()
    name = _rel(path, root)
    try:
        text = read_capped(path, name)
    except DefinitionError as e:
        raise ConfigError(e.message, e.span, e.hint) from None
    source = Source(name, text)
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        pos = min(mark.index if mark else 0, max(0, len(text) - 1))
        raise ConfigError(f"invalid YAML: {getattr(e, 'problem', None) or e}", Span(source, pos, pos + 1)) from None
    doc = ConfigDoc({} if data is None else data, source, node)
    if not isinstance(doc.data, dict):
        raise ConfigError("the config must be a mapping of keys", Span(source, 0, 1))
    validate_config(root, doc.data, doc)
    return doc


def load_config(root: Path, config_file: str | None = None) -> dict[str, Any]:
    """Read ``config/config.yaml`` and check it against ``config/schema.yaml``."""
    return dict(read_config(root, config_file).data)


def validate_config(root: Path, data: Any, doc: ConfigDoc | None = None) -> None:
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
        keys = [str(p) if not isinstance(p, int) else p for p in e.absolute_path]
        where = ".".join(str(p) for p in keys) or "(top level)"
        span = doc.span(*keys) if doc is not None else None
        raise ConfigError(f"config '{where}': {e.message}", span) from None
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        tmp = marker.with_name(f".config-valid.tmp{os.getpid()}")
        tmp.write_text(digest)
        os.replace(tmp, marker)
    except OSError:
        pass  # a read-only project still runs; it validates every time


def check_param_overrides(doc: ConfigDoc, defs: Definitions) -> None:
    """Each ``params:`` override names a declared parameter and has the default's type."""
    params = doc.data.get("params") or {}
    if not isinstance(params, dict):
        return  # the schema reports it
    declared: dict[str, list[tuple[str, Any]]] = {}
    for cmd in defs.commands.values():
        for p, default in cmd.params.items():
            declared.setdefault(p, []).append((cmd.name, default))
    for key, value in params.items():
        key = str(key)
        cmd_name, dot, pname = key.rpartition(".")
        if dot and (cmd_name in defs.commands or cmd_name in defs.broken):
            if cmd_name in defs.broken:
                continue  # that file's own error is reported; the override waits for it
            cmd = defs.commands[cmd_name]
            if pname not in cmd.params:
                raise ConfigError(f"params.{key}: /{cmd_name.replace('/', ':')} has no parameter '{pname}'"
                                  f"{closest(pname, list(cmd.params))}", doc.span("params", key, value=False))
            _check_type(doc, key, value, [(cmd_name, cmd.params[pname])])
        elif dot:
            raise ConfigError(f"params.{key}: no command /{cmd_name.replace('/', ':')}"
                              f"{closest(cmd_name, list(defs.commands))}", doc.span("params", key, value=False))
        elif key not in declared:
            raise ConfigError(f"params.{key}: no command declares a parameter '{key}'{closest(key, list(declared))}",
                              doc.span("params", key, value=False),
                              hint="write <command>.<parameter> for one command, or <parameter> for every command")
        else:
            _check_type(doc, key, value, declared[key])


def _check_type(doc: ConfigDoc, key: str, value: Any, defaults: list[tuple[str, Any]]) -> None:
    for cmd_name, default in defaults:
        if not _fits(value, default):
            raise ConfigError(f"params.{key}: /{cmd_name.replace('/', ':')} takes {_kind(default)} for "
                              f"'{key.rpartition('.')[2]}', not {value!r}", doc.span("params", key))


def _fits(value: Any, default: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, list):
        return isinstance(value, list)
    return isinstance(value, (str, int, float, bool)) or value is None and default is None


def _kind(default: Any) -> str:
    if isinstance(default, bool):
        return "true/false"
    return {"int": "an integer", "float": "a number", "list": "a list", "str": "text"}.get(
        type(default).__name__, type(default).__name__)


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
