"""The printer that inverts the parser: a tree back to chain text that parses to an equal tree."""

from __future__ import annotations

from slashmake.language import lexer as lx
from slashmake.language.nodes import Arg, Assign, Call, Flow, Gate, Parallel, Stage, Sweep, Value, Var


def _is_word(text: str) -> bool:
    if not text or text.startswith(("--", "'")) or "->" in text or not lx.is_word_char(text[0]):
        return False
    return all(lx.is_word_char(c) or c == "/" for c in text)


def fmt_value(value: Value) -> str:
    """A value as the language writes it: a bare word when it can be one, else quoted."""
    if isinstance(value, Var):
        return f"${value.name}"
    if _is_word(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def fmt_arg(arg: Arg) -> str:
    """``key=value`` or a lone value."""
    return f"{arg.key}={fmt_value(arg.value)}" if arg.key else fmt_value(arg.value)


def fmt_call(call: Call) -> str:
    """``/name args --options`` (or ``droid:name ...``)."""
    head = f"{call.droid}:{call.name}" if call.droid else f"/{call.name}"
    if call.fallback:
        head = f"/fallback:{call.name}"
    # Arguments print in the colon form (`/train-with-retry:3:backoff=300`), as agents write them.
    parts = [head + "".join(":" + fmt_arg(a) for a in call.args)]
    for o in call.options:
        parts.append(f"--{o.key}" if o.value is None else f"--{o.key} {fmt_value(o.value)}")
    return " ".join(parts)


def unparse(flow: Flow) -> str:
    """Print a tree back as a chain that parses to an equal tree."""
    return " → ".join(_stage(s) for s in flow.stages)


def _stage(stage: Stage) -> str:
    if isinstance(stage, Call):
        return fmt_call(stage)
    if isinstance(stage, Sweep):
        vals = " | ".join(fmt_arg(a) for a in stage.values)
        return f"{fmt_call(stage.call)} parallel[{vals}]"
    if isinstance(stage, Parallel):
        return "parallel[" + " | ".join(unparse(b) for b in stage.branches) + "]"
    if isinstance(stage, Assign):
        return f"${stage.name}={stage.value}"
    if isinstance(stage, Gate):
        head = "/if:" + fmt_value(stage.metric)
        if stage.op:
            # `x-` then `>` would print as the arrow `->`: keep them apart.
            sep = " " if head.endswith("-") and stage.op.startswith(">") else ""
            head += sep + stage.op + fmt_value(stage.threshold or "")
        return _branches(head, stage.then.stages, stage.orelse)
    head = f"/try:{fmt_call(stage.call)}"
    if stage.label is not None:
        head += f" → /catch:{stage.label}"
    return _branches(head, stage.catch.stages if stage.catch else (), stage.orelse)


def _branches(head: str, then: tuple[Stage, ...], orelse: Flow | None) -> str:
    parts = [head, *(_stage(s) for s in then)]
    if orelse is not None:
        parts += ["/else", *(_stage(s) for s in orelse.stages)]
    return " → ".join([*parts, "/end"])
