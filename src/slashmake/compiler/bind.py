"""Stage 2 of resolving: binding names — commands, droids, arguments, options, variables, inputs.

:class:`Binder` finds the command a call means (``/ml:train``, ``droid:command``, a name with a
sub-command as its first argument), checks the droid may run it, and fills a step's parameters,
positional arguments and inputs from the call and the scope it sits in.
"""

from __future__ import annotations

import json
from typing import Any

from slashmake.compiler import desugar
from slashmake.compiler.graph import Scope, norm
from slashmake.compiler.steps import AgentStep, CallStep, CommandStep, Const, Many, MetricVar, Producer, Ref
from slashmake.definitions import Command, Definitions, Droid
from slashmake.definitions.tools import missing_tools
from slashmake.errors import CompileError, ResolveError, Span, closest
from slashmake.language.nodes import Arg, Call, Option, Value, Var
from slashmake.language.parser import is_number
from slashmake.runtime import as_param, param_type_error

# Options every call takes; any other --option sets a parameter of the command.
RESERVED_OPTIONS = {"retries", "backoff", "parallel", "parameters", "timeout"}


class Binder:
    """Looks names up in the definitions and binds a call's arguments in a scope."""

    def __init__(self, defs: Definitions, overrides: dict[str, str] | None = None,
                 param_overrides: dict[str, Any] | None = None) -> None:
        self.defs = defs
        self.overrides = dict(overrides or {})  # --set name=value: wins over the chain's own $name=...
        self.param_overrides = dict(param_overrides or {})  # config's params: command.param or param
        self.sources: set[str] = set()  # the definition files the flow used
        self.used_vars: set[str] = set()  # $names the flow read or assigned: a --set of any other is unused

    # -- names -----------------------------------------------------------------------------------
    def lookup(self, call: Call) -> tuple[Command, Droid | None, tuple[Arg, ...], desugar.Retry]:
        """Find the command a call means, its droid, its remaining args, and retry settings."""
        args = call.args
        droid: Droid | None = None
        name = call.name
        commands = self.defs.commands
        first = args[0].value if args and args[0].key is None and isinstance(args[0].value, str) else None
        if call.droid is not None:
            plugin_agent = f"{call.droid}:{name}"  # a plugin's agent is `plugin:agent`: `plugin:agent:command`
            if call.droid not in self.defs.droids and plugin_agent in self.defs.droids and first is not None:
                droid, name, args = self.defs.droids[plugin_agent], first, args[1:]
                first = args[0].value if args and args[0].key is None and isinstance(args[0].value, str) else None
            else:
                droid = self.droid(call.droid, call.span)
            if name not in commands and first is not None and f"{name}/{first}" in commands:
                name, args = f"{name}/{first}", args[1:]  # `droid:namespace:command`
        else:
            if first is not None and f"{name}/{first}" in commands:
                name, args = f"{name}/{first}", args[1:]  # `/ml train` is /ml:train
            elif name not in commands and first is not None and name in self.defs.droids:
                droid, name, args = self.defs.droids[name], first, args[1:]  # `droid command`
        name, args, retry = desugar.strip_retry(name, args, commands.__contains__)
        if name not in commands:
            name = self.by_own_name(name, call)
        if name not in commands:
            self.defs.command(name)  # a command whose file is bad: that file's error, with its position
            known = [c.replace("/", ":") for c in commands]
            raise ResolveError(f"unknown command /{name.replace('/', ':')}{closest(name.replace('/', ':'), known)}",
                               call.span)
        cmd = commands[name]
        if droid is None and cmd.droid:
            droid = self.defs.droid(cmd.droid)
        return cmd, droid, args, retry

    def by_own_name(self, name: str, call: Call) -> str:
        """A command in a sub-folder of ``.claude/commands/`` called by its own name, as Claude Code calls it.

        Claude Code shows the folder as a label and calls ``git/commit.md`` as ``/commit``. The full
        name (``/git:commit``) always works; a command whose full name is the name wins over any
        sub-folder one; two sub-folder commands of the same name are an error naming both.
        """
        found = sorted(c.name for c in self.defs.commands.values()
                       if c.origin == ".claude" and "/" in c.name and c.name.rsplit("/", 1)[1] == name)
        if len(found) > 1:
            raise ResolveError(f"/{name} is {' and '.join('/' + f.replace('/', ':') for f in found)} in "
                               f".claude/commands/: call one by its full name", call.span)
        return found[0] if found else name

    def droid(self, name: str, span: Span | None) -> Droid:
        if name not in self.defs.droids:
            self.defs.droid(name)  # a droid whose file is bad: that file's error
            raise ResolveError(f"unknown droid '{name}'{closest(name, list(self.defs.droids))}", span)
        return self.defs.droids[name]

    def check_tools(self, cmd: Command, droid: Droid | None, span: Span | None) -> None:
        """A droid may run a command only when its tools cover the command's allowed-tools."""
        if droid is None or droid.tools is None or cmd.allowed_tools is None:
            return
        lacking = missing_tools(droid.tools, cmd.allowed_tools)
        if lacking:
            raise CompileError(
                f"droid {droid.name} ({droid.path.name}) lacks {', '.join(sorted(lacking))}, which "
                f"{cmd.display} ({cmd.path.name}) needs in its allowed-tools", span)

    # -- options ---------------------------------------------------------------------------------
    @staticmethod
    def int_option(opts: dict[str, Option], key: str, default: int) -> int:
        o = opts.get(key)
        if o is None:
            return default
        if not isinstance(o.value, str) or not o.value.isdigit():
            raise ResolveError(f"--{key} takes a whole number", o.span)
        return int(o.value)

    @staticmethod
    def float_option(opts: dict[str, Option], key: str, default: float) -> float:
        o = opts.get(key)
        if o is None:
            return default
        if not isinstance(o.value, str) or not is_number(o.value):
            raise ResolveError(f"--{key} takes a number of seconds", o.span)
        return float(o.value)

    def set_retries(self, step: CommandStep, call: Call, retry: desugar.Retry) -> None:
        """Retry settings: from the name (``-with-retry``), else ``--retries``/``--backoff``, else the command's."""
        opts = {o.key: o for o in call.options}
        step.retries = retry.retries or self.int_option(opts, "retries", step.cmd.retries)
        step.backoff = retry.backoff or self.float_option(opts, "backoff", step.cmd.backoff)

    # -- steps -----------------------------------------------------------------------------------
    def make_step(self, cmd: Command, droid: Droid | None, call: Call, args: tuple[Arg, ...], env: Scope,
                  origin: str) -> CommandStep:
        """The step a call makes, its parameters, arguments and inputs bound in ``env``."""
        self.check_tools(cmd, droid, call.span)
        kind = AgentStep if cmd.kind == "agent" else CallStep
        step = kind(cmd.display, span=call.span, origin=origin, command=cmd, droid=droid)
        step.params = {k: self.param_overrides.get(f"{cmd.name}.{k}", self.param_overrides.get(k, v))
                       for k, v in cmd.params.items()}
        for a in args:
            self.bind_arg(step, a, env)
        for o in call.options:
            if o.key in RESERVED_OPTIONS:
                continue
            key = norm(o.key)
            if key not in {norm(p) for p in cmd.params} and takes_arguments(cmd):
                # as the agents take it: an option the command does not declare is part of $ARGUMENTS
                step.args += [f"--{o.key}"] + ([] if o.value is None else [self.verbatim(o.value, env, o.span)])
                continue
            if key not in {norm(p) for p in cmd.params}:
                raise ResolveError(f"{cmd.display} has no parameter --{o.key} (its parameters: "
                                   f"{', '.join(cmd.params) or 'none'}){closest(key, list(cmd.params))}", o.span)
            self.set_param(step, key, True if o.value is None else o.value, env, o.span)
        step.inputs = self.inputs_for(cmd, env, call.span)
        sm = cmd.meta.get("slashmake")
        if isinstance(step, AgentStep) and not (isinstance(sm, dict) and "input" in sm):
            # a command that names its inputs gets those instead; `input: []` opts out
            step.inputs = handoff(env.last)
        step.after = list(env.last)
        self.sources.add(cmd.path.as_posix())
        if droid is not None:
            self.sources.add(droid.path.as_posix())
        return step

    def bind_arg(self, step: CommandStep, arg: Arg, env: Scope) -> None:
        """An argument sets a parameter (``epochs=60``, ``sigma-0.12``) or is passed on positionally."""
        declared = {norm(p): p for p in step.cmd.params}
        if arg.key is not None and norm(arg.key) in declared:
            self.set_param(step, norm(arg.key), arg.value, env, arg.span)
            return
        if isinstance(arg.value, str) and arg.key is None:
            kn = desugar.key_number(arg.value)
            if kn and norm(kn[0]) in declared:
                self.set_param(step, norm(kn[0]), kn[1], env, arg.span)
                return
        if isinstance(arg.value, Var) and arg.value.name == "ARGUMENTS":
            binding = env.vars.get("ARGUMENTS")
            if isinstance(binding, Const) and binding.value:
                step.args.extend(json.loads(binding.value))
            return
        value = self.verbatim(arg.value, env, arg.span)
        step.args.append(f"{arg.key}={value}" if arg.key else value)

    def verbatim(self, raw: Value, env: Scope, span: Span | None) -> str:
        """A positional argument's text (a variable's constant value; a metric cannot be one)."""
        value = self.value(raw, env, span)
        if isinstance(value, MetricVar):
            raise ResolveError("a variable bound to a metric can only set a parameter (name=$var)", span)
        return value

    def set_param(self, step: CommandStep, key: str, raw: Value | bool, env: Scope, span: Span | None) -> None:
        name = next(p for p in step.cmd.params if norm(p) == key)
        if isinstance(raw, bool):
            step.params[name] = raw
            return
        value = self.value(raw, env, span)
        if isinstance(value, MetricVar):
            step.var_params[name] = value
            step.params.pop(name, None)
        else:
            step.params[name] = coerce(value, step.cmd.params[name], name, span)

    def value(self, value: Value, env: Scope, span: Span | None) -> str | MetricVar:
        """A literal, or what a ``$variable`` is bound to here."""
        if isinstance(value, str):
            return value
        self.used_vars.add(value.name)
        binding = env.vars.get(value.name)
        if binding is None:
            raise ResolveError(f"variable ${value.name} is not set (bind it with ${value.name}=... earlier in the "
                               f"chain, or --set {value.name}=...){closest(value.name, list(env.vars))}", span)
        return binding.value if isinstance(binding, Const) else binding

    @staticmethod
    def inputs_for(cmd: Command, env: Scope, span: Span | None) -> dict[str, Producer]:
        """Each input the command reads, from the latest stage on the path that outputs it."""
        found: dict[str, Producer] = {}
        for local, upstream in cmd.inputs.items():
            prod = env.outputs.get(upstream)
            if prod is None and local in cmd.optional_inputs:
                continue
            if prod is None:
                raise CompileError(
                    f"{cmd.display} reads '{upstream}', which no earlier stage makes"
                    f"{closest(upstream, list(env.outputs))}", span,
                    hint=f"add a stage that outputs '{upstream}' before it, or list that command in its needs")
            found[local] = prod
        return found

    def macro_scope(self, cmd: Command, args: tuple[Arg, ...], env: Scope) -> tuple[Scope, list[Arg]]:
        """The scope a macro's flow runs in: its parameters bound (defaults, then the call's), and
        ``$ARGUMENTS``; returns the arguments that set no parameter."""
        scope = env.copy()
        positional: list[str] = []
        declared = {norm(p): p for p in cmd.params}
        for k, v in cmd.params.items():
            scope.vars[k] = Const(_fmt(v))
        extra: list[Arg] = []
        for a in args:
            kn = desugar.key_number(a.value) if isinstance(a.value, str) and a.key is None else None
            key = norm(a.key) if a.key else (norm(kn[0]) if kn else None)
            if key in declared:
                val = self.value(a.value if a.key else kn[1], env, a.span)  # type: ignore[index]
                scope.vars[declared[key]] = val if isinstance(val, MetricVar) else Const(val)
            else:
                extra.append(a)
                if isinstance(a.value, str):
                    positional.append(a.value)
        scope.vars["ARGUMENTS"] = Const(json.dumps(positional))
        return scope, extra


    def macro_options(self, cmd: Command, call: Call, extra: list[Arg], scope: Scope, env: Scope) -> None:
        """A macro's ``--name value`` sets its parameter; an option it does not declare, or a free argument
        where its flow has no ``$ARGUMENTS``, is an error with the closest name (as for a command)."""
        declared = {norm(p): p for p in cmd.params}
        for o in call.options:
            key = norm(o.key)
            if key in declared:
                val = "true" if o.value is None else self.value(o.value, env, o.span)
                scope.vars[declared[key]] = val if isinstance(val, MetricVar) else Const(val)
            elif o.key not in RESERVED_OPTIONS:
                raise ResolveError(f"{cmd.display} has no parameter --{o.key} (its parameters: "
                                   f"{', '.join(cmd.params) or 'none'}){closest(key, list(cmd.params))}", o.span)
        if extra and "$ARGUMENTS" not in (cmd.flow or ""):
            first = extra[0]
            raise ResolveError(f"{cmd.display} takes no arguments: its flow has no $ARGUMENTS (its parameters: "
                               f"{', '.join(cmd.params) or 'none'}){closest(str(first.value), list(cmd.params))}",
                               first.span or call.span)


def takes_arguments(cmd: Command) -> bool:
    """Whether the command has a place for free arguments: an agent's ``$ARGUMENTS``, ``{params.arguments}``."""
    return cmd.kind == "agent" or cmd.script is not None or "{params.arguments" in (cmd.shell or "")


def handoff(last: list[Producer]) -> dict[str, Producer]:
    """The default inputs of an agent step: the answers and metrics of the agent steps directly before it."""
    refs = [p for p in last if isinstance(p, Ref) and isinstance(p.step, AgentStep)]
    if not refs:
        return {}

    def each(name: str) -> Producer:
        parts = tuple(Ref(r.step, name, r.variants) for r in refs)
        return parts[0] if len(parts) == 1 else Many(parts)

    return {"response": each("response"), "metrics": each("metrics")}


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def coerce(value: str, default: Any, name: str, span: Span | None) -> Any:
    """Give an argument the type of the parameter's default (``60`` → 60 where epochs is an int)."""
    try:
        return as_param(value, default)
    except ValueError:
        raise ResolveError(param_type_error(name, default, value), span) from None
