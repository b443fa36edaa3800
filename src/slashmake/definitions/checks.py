"""Checking a definition file completely when it loads, and building its Command or Droid.

Every check points at the value that is wrong (``file:line:col`` and a caret): types and ranges,
keys that exclude each other, a droid that exists, file names that stay inside the step folder,
``metrics.primary`` among ``keys``, and every ``{placeholder}`` of ``shell`` one Snakemake will
know. A mistake found here never reaches Snakemake as a NameError at run time.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from slashmake.definitions.files import DefFile, decode
from slashmake.definitions.model import Command, Droid, Metrics, name_slug
from slashmake.definitions.tools import ALL_TOOL_IDS, normalize_tools, unknown_names
from slashmake.errors import ToolsError

# Keys the agents themselves read (from their documentation); others earn a warning, never an error.
COMMAND_TOP_KEYS = {"description", "argument-hint", "allowed-tools", "model", "disable-model-invocation",
                    "slashmake", "name", "user-invocable", "context", "agent", "hooks", "effort",
                    "disallowed-tools", "license", "version", "metadata", "arguments", "shell", "when_to_use",
                    "paths", "compatibility"}
DROID_TOP_KEYS = {"name", "description", "model", "reasoningEffort", "tools", "color", "permissionMode",
                  "skills", "hooks", "mcpServers", "disallowedTools", "version", "location", "maxTurns",
                  "memory", "background", "isolation", "effort", "disabled", "slashmake", "initialPrompt"}

_NUM = (int, float)
# slashmake key -> accepted Python types (checked before use, so a wrong type names file and key).
COMMAND_KEYS: dict[str, tuple[type, ...]] = {
    "droid": (str,), "params": (dict,), "needs": (list,), "input": (list, dict), "output": (dict,),
    "metrics": (dict,), "shell": (str,), "script": (str,), "flow": (str,), "threads": (int,),
    "resources": (dict,), "retries": (int,), "backoff": _NUM, "timeout": _NUM, "variant": (str,),
    "cache": (bool,),  # false: never from the shared cache (a deploy); true: an agent step too
}
METRICS_KEYS: dict[str, tuple[type, ...]] = {"file": (str,), "keys": (list,), "primary": (str,), "aliases": (dict,)}
DROID_KEYS: dict[str, tuple[type, ...]] = {"resources": (dict,)}
# Lowest allowed value of each number (timeout must be above it).
MINIMUM: dict[str, int] = {"threads": 1, "retries": 0, "backoff": 0, "timeout": 0}
# Snakemake resources that are text, not numbers (SLURM's partition and friends).
TEXT_RESOURCES = {"slurm_partition", "slurm_account", "slurm_extra", "constraint", "qos", "gpu_model",
                  "tmpdir", "runtime"}
STANDARD_RESOURCES = {"mem_mb", "mem_mib", "mem", "disk_mb", "disk_mib", "disk", "runtime", "tmpdir", "gpu",
                      "gpus", "_cores", "_nodes", "agents"} | TEXT_RESOURCES
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FIELD = re.compile(r"(\w+)((?:\.\w+)?)(?::[^{}]*)?")
_TYPE_NAMES = {"dict": "a mapping", "str": "a string", "int": "an integer", "float": "a number", "list": "a list"}
SCALARS = (str, int, float, bool)


def _type_name(value: Any) -> str:
    return "null" if value is None else {"dict": "a mapping", "list": "a list", "bool": "true/false"}.get(
        type(value).__name__, type(value).__name__)


def check_types(f: DefFile, mapping: dict[Any, Any], spec: dict[str, tuple[type, ...]],
                path: tuple[str, ...], warnings: list[str]) -> None:
    """Each key of ``mapping`` known to ``spec`` and of its type; unknown keys are warnings."""
    for key, value in mapping.items():
        if key not in spec:
            warnings.append(f.warn_at(f"unknown key '{'.'.join((*path, str(key)))}' (ignored)", *path, key))
            continue
        types = spec[key]
        if value is None or (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            want = " or ".join(_TYPE_NAMES.get(t.__name__, t.__name__) for t in types)
            raise f.error(f"'{'.'.join((*path, key))}' must be {want}, not {_type_name(value)}", *path, key)
        number: float = value if isinstance(value, (int, float)) else 0.0
        if key in MINIMUM and (number < MINIMUM[key] or key == "timeout" and number == 0):
            rel = "above" if key == "timeout" else "at least"
            raise f.error(f"'{'.'.join((*path, key))}' must be {rel} {MINIMUM[key]}, not {value}", *path, key)


def check_path(f: DefFile, value: Any, what: str, *keys: str | int) -> str:
    """A file name inside the step folder: relative, not empty, no ``..``."""
    if not isinstance(value, str):
        raise f.error(f"{what} must be a file name (a string), not {_type_name(value)}", *keys)
    text = value.strip()
    if not text or PurePosixPath(text) == PurePosixPath("."):
        raise f.error(f"{what} is empty: give a file name inside the step folder", *keys)
    if text.startswith(("/", "~", "\\")) or re.match(r"[A-Za-z]:[\\/]", text):
        raise f.error(f"{what} '{text}' is an absolute path: outputs stay inside the step folder", *keys,
                      hint="write a name relative to the step folder, e.g. report.json")
    if ".." in re.split(r"[\\/]", text):
        raise f.error(f"{what} '{text}' leaves the step folder ('..')", *keys,
                      hint="write a name relative to the step folder, e.g. report.json")
    if "\0" in text or text.endswith("/"):
        raise f.error(f"{what} '{text}' is not a file name", *keys)
    return text


def _check_params(f: DefFile, params: dict[Any, Any]) -> None:
    for key, value in params.items():
        if not isinstance(key, str):
            raise f.error(f"parameter name {key!r} must be a string", "slashmake", "params", key, value=False)
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            if item is None or not isinstance(item, SCALARS):
                where = ("slashmake", "params", key) + ((i,) if isinstance(value, list) else ())
                raise f.error(f"parameter '{key}' must be a string, number or true/false (or a list of them), "
                              f"not {_type_name(item)}", *where,
                              hint="give a default value; a chain or config.yaml can override it")


def _check_resources(f: DefFile, res: dict[Any, Any], path: tuple[str, ...]) -> None:
    for key, value in res.items():
        if not isinstance(key, str) or not _IDENT.fullmatch(key):
            raise f.error(f"resource name {key!r} must be an identifier", *path, key, value=False)
        if key in TEXT_RESOURCES and isinstance(value, str):
            continue
        if isinstance(value, bool) or not isinstance(value, _NUM):
            raise f.error(f"resource '{key}' must be a number, not {_type_name(value)}", *path, key)
        if value < 0:
            raise f.error(f"resource '{key}' must not be negative ({value})", *path, key)


def _str_list(f: DefFile, value: list[Any], *keys: str) -> tuple[str, ...]:
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise f.error(f"'{'.'.join(keys)}' must list names (strings), not {_type_name(item)}", *keys, i)
    return tuple(value)


def _tools(f: DefFile, key: str, warnings: list[str], unknown: dict[str, list[str]]) -> frozenset[str]:
    value = f.data[key]
    if isinstance(value, str) and not value.strip():
        value = []
    try:
        ids, _ = normalize_tools(value)
    except ToolsError as e:
        raise f.error(f"'{key}': {e.message}", key) from None
    for name in unknown_names(ids):
        unknown.setdefault(name, []).append(f.name)
    return ids


def _text(f: DefFile, key: str) -> str:
    """An agent-facing text key as the agents show it (``[pr-number]`` stays that text)."""
    value = f.data.get(key)
    if value is None:
        return ""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value).strip()
    return f.raw.get(key, "").strip()


def _metrics(f: DefFile, raw: dict[str, Any], warnings: list[str]) -> Metrics:
    at = ("slashmake", "metrics")
    check_types(f, raw, METRICS_KEYS, at, warnings)
    file = check_path(f, raw.get("file", "metrics.json"), "metrics.file", *at, "file")
    keys = _str_list(f, raw.get("keys") or [], *at, "keys")
    primary = raw.get("primary")
    if primary is not None and keys and primary not in keys:
        raise f.error(f"metrics.primary '{primary}' is not one of its keys ({', '.join(keys)})", *at, "primary")
    aliases = raw.get("aliases") or {}
    for alias, target in aliases.items():
        if not isinstance(target, str) or (keys and target not in keys):
            raise f.error(f"metrics alias '{alias}' must name one of its keys ({', '.join(keys)})", *at, "aliases",
                          alias)
    return Metrics(file, keys, primary or (keys[0] if keys else None), {str(k): str(v) for k, v in aliases.items()})


def _outputs(f: DefFile, sm: dict[str, Any], metrics: Metrics | None) -> dict[str, str]:
    outputs: dict[str, str] = {}
    seen: dict[str, str] = {}
    for key, value in (sm.get("output") or {}).items():
        if not isinstance(key, str) or not _IDENT.fullmatch(key):
            raise f.error(f"output name '{key}' must be an identifier", "slashmake", "output", key, value=False)
        outputs[key] = check_path(f, value, f"output '{key}'", "slashmake", "output", key)
    if metrics is not None:
        outputs.setdefault("metrics", metrics.file)
    for key, file in outputs.items():
        norm = str(PurePosixPath(file))
        if norm in seen:
            where = ("slashmake", "output", key) if key in (sm.get("output") or {}) else ("slashmake", "metrics")
            raise f.error(f"outputs '{seen[norm]}' and '{key}' are the same file ({file})", *where)
        seen[norm] = key
    return outputs


def _inputs(f: DefFile, raw: Any) -> tuple[dict[str, str], frozenset[str]]:
    if isinstance(raw, list):
        pairs = [(str(x), str(x)) for x in _str_list(f, raw, "slashmake", "input")]
    else:
        for k, v in raw.items():
            if not isinstance(v, str):
                raise f.error(f"input '{k}' must name an upstream output (a string)", "slashmake", "input", k)
        pairs = [(str(k), str(v)) for k, v in raw.items()]
    for local, _ in pairs:
        if not _IDENT.fullmatch(local.rstrip("?")):
            raise f.error(f"input name '{local}' must be an identifier", "slashmake", "input")
    optional = frozenset(k.rstrip("?") for k, v in pairs if k.endswith("?") or v.endswith("?"))
    return {k.rstrip("?"): v.rstrip("?") for k, v in pairs}, optional


def check_shell(f: DefFile, shell: str, known: dict[str, Collection[str] | None]) -> None:
    """Every ``{placeholder}`` of ``shell`` one Snakemake will know; single braces refused.

    ``known`` maps a placeholder's first part (``input``) to the names allowed after its dot, or
    None when it takes no dot (``threads``).
    """
    i = 0
    while i < len(shell):
        ch = shell[i]
        if shell.startswith(("{{", "}}"), i):
            i += 2
            continue
        if ch == "}":
            _brace_error(f, shell, i, i + 1, "a single '}'")
        if ch == "{":
            end = shell.find("}", i)
            inner = shell[i + 1 : end] if end >= 0 else ""
            m = _FIELD.fullmatch(inner) if end >= 0 and "{" not in inner else None
            if m is None:
                _brace_error(f, shell, i, end + 1 if end >= 0 else i + 1, "a single '{'")
            assert m is not None
            _check_field(f, shell, i, end + 1, m.group(1), m.group(2)[1:], known)
            i = end + 1
            continue
        i += 1


def _shell_span_error(f: DefFile, shell: str, start: int, stop: int, message: str, hint: str) -> None:
    err = f.error(message, "slashmake", "shell", hint=hint)
    assert err.span is not None
    piece = shell[start:stop]
    region = f.text[err.span.start : max(err.span.end, err.span.start + len(shell) + 2)]
    at = region.find(piece)
    if at >= 0:  # the caret under the placeholder itself when the file spells it the same way
        err.span = type(err.span)(err.span.source, err.span.start + at, err.span.start + at + len(piece))
    raise err


def _brace_error(f: DefFile, shell: str, start: int, stop: int, what: str) -> None:
    piece = shell[start:stop] if stop - start < 40 else shell[start]
    _shell_span_error(f, shell, start, start + len(piece), f"shell has {what} that is not a placeholder",
                      "Snakemake reads braces as placeholders: write a literal brace twice ({{ or }}), "
                      "e.g. echo '{{\"a\": 1}}'")


def _check_field(f: DefFile, shell: str, start: int, stop: int, head: str, attr: str,
                 known: dict[str, Collection[str] | None]) -> None:
    if head not in known:
        _shell_span_error(f, shell, start, stop, f"shell uses {{{head}}}, which Snakemake does not know",
                          f"placeholders: {', '.join('{' + k + '}' for k in known)}; a literal brace is written twice")
    names = known[head]
    if attr and names is None:
        _shell_span_error(f, shell, start, stop, f"shell uses {{{head}.{attr}}}, but {{{head}}} has no parts",
                          f"write {{{head}}}")
    if attr and names is not None and attr not in names:
        listing = ", ".join(sorted(names)) or "none"
        _shell_span_error(f, shell, start, stop, f"shell uses {{{head}.{attr}}}, which is not declared "
                          f"(this command's {head}: {listing})", f"declare it under slashmake.{head}"
                          if head in ("input", "output", "params", "resources") else f"use one of: {listing}")


def load_command(path: Path, name: str, root: Path, warnings: list[str],
                 droids: Collection[str] | None = None, droid_resources: Mapping[str, Collection[str]] | None = None,
                 unknown_tools: dict[str, list[str]] | None = None, origin: str = "project",
                 text: str | None = None) -> Command:
    """Read and check one command file (``droids``: the names a ``droid:`` key may use)."""
    f, sm = _read(path, root, text, COMMAND_TOP_KEYS, COMMAND_KEYS, "kept for the agent, ignored here", warnings)
    data = f.data
    unknown = unknown_tools if unknown_tools is not None else {}
    given = [k for k in ("shell", "script", "flow") if k in sm]
    if len(given) > 1:
        raise f.error(f"'{given[0]}' and '{given[1]}' cannot both be set: a command runs a program (shell or "
                      "script) or is a macro (flow)", "slashmake", given[1], value=False)
    for key in given:
        if not sm[key].strip():
            raise f.error(f"'slashmake.{key}' is empty", "slashmake", key,
                          hint="remove the key to make this an agent command (its body is the prompt)")
    _check_params(f, sm.get("params") or {})
    if "resources" in sm:
        _check_resources(f, sm["resources"], ("slashmake", "resources"))
    droid = sm.get("droid")
    if droid is not None and droids is not None and droid not in droids:
        from slashmake.errors import closest

        raise f.error(f"unknown droid '{droid}'{closest(droid, list(droids))}", "slashmake", "droid")
    tools = _tools(f, "allowed-tools", warnings, unknown) if data.get("allowed-tools") is not None else None
    metrics = _metrics(f, sm["metrics"], warnings) if sm.get("metrics") is not None else None
    outputs = _outputs(f, sm, metrics)
    inputs, optional = _inputs(f, sm.get("input") or [])
    needs = _str_list(f, sm.get("needs") or [], "slashmake", "needs")
    params = dict(sm.get("params") or {})
    resources = dict(sm.get("resources") or {})
    if sm.get("shell"):
        res_names = set(resources) | STANDARD_RESOURCES | set((droid_resources or {}).get(droid or "", ()))
        check_shell(f, sm["shell"], {
            "input": set(inputs), "output": set(outputs), "log": None, "threads": None,
            "params": {re.sub(r"\W", "_", p) for p in params} | {"arguments"},
            "resources": res_names, "wildcards": {"variant"},
        })
    flow = sm.get("flow")
    flow_pos = (0, 0)
    spans = {k: f.span("slashmake", k, value=True) for k in sm}
    if flow is not None:
        span = spans["flow"]
        line, col = span.position()
        quoted = f.text[span.start : span.start + 1] in ("'", '"')  # the flow starts after the quote
        flow_pos = (line - 1, col - 1 + quoted)
    model = data.get("model")
    return Command(
        name=name, path=path, text=f.text, description=f.description(), body=f.body,
        allowed_tools=tools, raw_tools=data.get("allowed-tools"), droid=droid, params=params, needs=needs,
        inputs=inputs, optional_inputs=optional, outputs=outputs, metrics=metrics, shell=sm.get("shell"),
        script=sm.get("script"), flow=flow, flow_pos=flow_pos, threads=int(sm.get("threads", 1)),
        resources=resources, retries=int(sm.get("retries", 0)), backoff=float(sm.get("backoff", 0)),
        timeout=sm.get("timeout"), cache=sm.get("cache"), digest=hashlib.sha256(f.text.encode()).hexdigest(), origin=origin,
        label=_text(f, "name") or path.stem, argument_hint=_text(f, "argument-hint"),
        model=str(model) if isinstance(model, (str, int, float)) else None, meta=dict(data), spans=spans,
    )


def load_script_command(path: Path, name: str, root: Path, text: str | None = None) -> Command:
    """A Droid executable command (a file that starts with ``#!``): a shell step running the file with
    the chain's arguments, as Droid runs it with what follows the command. Its first comment line
    after the ``#!`` line is its description."""
    rel = _rel(path, root)
    body = text if text is not None else decode(path.read_bytes(), rel)
    comments = [ln.lstrip("#").strip() for ln in body.split("\n")[1:] if ln.startswith("#")]
    description = next((c for c in comments if c), path.name)
    runnable = rel if "/" in rel else f"./{rel}"
    shell = runnable.replace("{", "{{").replace("}", "}}") + " {params.arguments}"
    return Command(
        name=name, path=path, text=body, description=description, body=body, allowed_tools=None, raw_tools=None,
        droid=None, params={}, needs=(), inputs={}, optional_inputs=frozenset(), outputs={}, metrics=None,
        shell=shell, script=None, flow=None, flow_pos=(0, 0), threads=1, resources={}, retries=0, backoff=0.0,
        timeout=None, digest=hashlib.sha256(body.encode()).hexdigest(), origin=".factory", label=path.name,
    )


def load_droid(path: Path, root: Path, warnings: list[str], unknown_tools: dict[str, list[str]] | None = None,
               origin: str = "project", prefix: str = "", text: str | None = None) -> Droid:
    """Read and check one droid (Factory) or subagent (Claude Code) file."""
    f, sm = _read(path, root, text, DROID_TOP_KEYS, DROID_KEYS, "ignored", warnings)
    data = f.data
    unknown = unknown_tools if unknown_tools is not None else {}
    shown = _text(f, "name") or path.stem
    name = prefix + name_slug(shown)
    for key in ("model", "reasoningEffort"):
        if isinstance(data.get(key), (dict, list)):
            raise f.error(f"'{key}' must be a string, not {_type_name(data[key])}", key)
    tools = _tools(f, "tools", warnings, unknown) if data.get("tools") is not None else None
    raw_tools = data.get("tools")
    if data.get("disallowedTools") is not None:
        # Claude Code: a denylist "removed from inherited or specified list" (its sub-agents docs)
        denied = _tools(f, "disallowedTools", warnings, unknown)
        tools = (tools if tools is not None else ALL_TOOL_IDS) - denied
        raw_tools = sorted(tools)  # the allowed names as written no longer say it all
    _check_resources(f, sm.get("resources") or {}, ("slashmake", "resources"))
    model, effort = data.get("model"), data.get("reasoningEffort")
    return Droid(
        name=name, path=path, text=f.text, description=f.description(), body=f.body, tools=tools,
        raw_tools=raw_tools, model=str(model) if model is not None else None,
        resources=dict(sm.get("resources") or {}), digest=hashlib.sha256(f.text.encode()).hexdigest(),
        origin=origin, display_name=shown, reasoning_effort=str(effort) if effort is not None else None,
        meta=dict(data),
    )


def _read(path: Path, root: Path, text: str | None, top_keys: Collection[str], keys: dict[str, tuple[type, ...]], ignored: str,
          warnings: list[str]) -> tuple[DefFile, dict[str, Any]]:
    """A command or droid file and its ``slashmake:`` mapping (empty when absent), its keys checked.

    A top-level key outside ``top_keys`` is a warning (``ignored`` says what becomes of it).
    """
    f = DefFile(path, _rel(path, root), text)
    for key in f.data:
        if key not in top_keys:
            warnings.append(f.warn_at(f"unknown key '{key}' ({ignored})", key))
    sm = f.data.get("slashmake")
    if sm is None:
        sm = {}
    if not isinstance(sm, dict):
        raise f.error(f"'slashmake' must be a mapping, not {_type_name(sm)}", "slashmake")
    check_types(f, sm, keys, ("slashmake",), warnings)
    return f, sm


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
