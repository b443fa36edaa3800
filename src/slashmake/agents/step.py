"""The agent-step runtime: ``python -m slashmake.agents.step``.

A compiled agent command runs this. It renders the prompt (agent_prompt: the droid's body, the
command's body as the agents render it, the upstream answers), builds the agent program's argv
(agent_program: the ``droid``/``claude`` preset or a template from config), runs it with a
timeout while its progress streams into the step's log (agent_output), and publishes
``response.md`` and ``metrics.json`` atomically, only when the program answered: exit 0 in time,
no error in its envelope, at least one turn, a non-empty answer. The last fenced ```json block of
the answer becomes metrics.json, with the run's turns, duration, session id, cost and model as
``agent_*`` keys; a row goes to the ledger (agent_results). On failure it exits non-zero and
leaves neither file.

    python -m slashmake.agents.step --command workflow/commands/aggregate.md \\
        --droid droids/command-workflow-orchestrator.md --arguments '["analysis-results"]' \\
        --input response=results/steps/a/response.md --input response=results/steps/b/response.md \\
        --prompt-out OUT/prompt.md --response-out OUT/response.md --metrics-out OUT/metrics.json \\
        --preset droid --timeout 1800
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from slashmake.agents.errors import EXIT_USAGE, AgentError
from slashmake.agents.output import Outcome, parse_output, progress_printer, run_program, tail
from slashmake.agents.program import (
    PRESETS,
    Invocation,
    Settings,
    build_argv,
    guess_tools_format,
    preset_argv,
)
from slashmake.agents.prompt import (
    Definition,
    StepInput,
    command_name,
    load_definition,
    metric_keys,
    render_prompt,
)
from slashmake.agents.results import (
    append_row,
    check_budget,
    extract_metrics,
    note_budget,
    remove,
    write_atomic,
)
from slashmake.definitions.tools import ToolsError, normalize_tools, to_program_form
from slashmake.runtime import FAILURE

PROG = "slashmake.agents.step"
DEFAULT_TIMEOUT_S = 1800.0


def step_tools(cmd: Definition, droid: Definition | None) -> frozenset[str] | None:
    """The tools the step may use: the command's ``allowed-tools`` within the droid's ``tools``.

    Whether the droid has them all was checked when the flow compiled."""
    try:
        cmd_raw = cmd.meta.get("allowed-tools")
        cmd_ids = normalize_tools(cmd_raw)[0] if cmd_raw is not None else None
        droid_raw = droid.meta.get("tools") if droid is not None else None
        droid_ids = normalize_tools(droid_raw)[0] if droid_raw is not None else None
    except ToolsError as exc:
        raise AgentError(str(exc), EXIT_USAGE) from None
    if cmd_ids is not None and droid_ids is not None:
        return cmd_ids & droid_ids
    return cmd_ids if cmd_ids is not None else droid_ids


def model_and_effort(cmd: Definition, droid: Definition | None) -> tuple[str, str]:
    """The command's own ``model:``/effort win over its droid's."""
    def pick(key: str, *more: str) -> str:
        for d in (cmd, droid):
            if d is None:
                continue
            for k in (key, *more):
                value = d.meta.get(k)
                if value and str(value) != "inherit":
                    return str(value)
        return ""
    return pick("model"), pick("reasoningEffort", "effort", "reasoning-effort")


# --------------------------------------------------------------------------- CLI


def _json_list(text: str, what: str) -> list[str]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AgentError(f"{what} must be a JSON list of strings: {exc}", EXIT_USAGE) from None
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise AgentError(f"{what} must be a JSON list of strings, got {text!r}", EXIT_USAGE)
    return [v if isinstance(v, str) else json.dumps(v) for v in value]


def _parse_inputs(groups: Sequence[Sequence[str]] | None) -> list[StepInput]:
    inputs: list[StepInput] = []
    for group in groups or []:
        first, *more = group
        if "=" not in first:
            raise AgentError(f"--input takes NAME=PATH [PATH ...], got {first!r}", EXIT_USAGE)
        name, path = first.split("=", 1)
        paths = [p for p in [path, *more] if p]
        for p in paths:
            if not os.path.exists(p):
                raise AgentError(f"upstream input {name!r} is missing: {p}", EXIT_USAGE)
        existing = next((i for i in inputs if i.name == name), None)
        if existing is None:
            inputs.append(StepInput(name, paths))
        else:
            existing.paths.extend(paths)
    return inputs


def _parse_params(items: Sequence[str] | None) -> list[tuple[str, str]]:
    out = []
    for item in items or []:
        if "=" not in item:
            raise AgentError(f"--param takes NAME=VALUE, got {item!r}", EXIT_USAGE)
        k, v = item.split("=", 1)
        out.append((k, v))
    return out


def build_parser() -> argparse.ArgumentParser:
    """The runtime's command line (what compiled agent rules call)."""
    p = argparse.ArgumentParser(
        prog=f"python -m {PROG}",
        description="Run one agent step: render the prompt, run the agent program, save its answer.",
    )
    p.add_argument("--command", required=True, metavar="FILE", help="the command .md (its body is the prompt)")
    p.add_argument("--droid", metavar="FILE", help="the droid .md (its body leads the prompt)")
    p.add_argument("--arguments", default="[]", metavar="JSON", help="JSON list: $ARGUMENTS, $0, $1...")
    p.add_argument("--input", action="append", nargs="+", metavar="NAME=PATH",
                   help="an upstream output, listed in the prompt (repeatable; NAME=PATH [PATH ...])")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="a resolved parameter, listed in the prompt")
    p.add_argument("--prompt-out", required=True, metavar="PATH")
    p.add_argument("--response-out", required=True, metavar="PATH")
    p.add_argument("--metrics-out", required=True, metavar="PATH")
    p.add_argument("--preset", default="", choices=("", *PRESETS), help="build the argv of droid exec / claude -p")
    p.add_argument("--program", default="[]", metavar="JSON",
                   help="argv template as a JSON list (without --preset); placeholders {prompt_file}, "
                        "{prompt}, {tools}, {model}, {effort}")
    p.add_argument("--output", default="", choices=("", "text", "json", "stream-json"),
                   help="the program's output format (default: stream-json for a preset, text for a program)")
    p.add_argument("--tools-format", default="auto", choices=("auto", "claude", "droid", "none"),
                   help="how the program takes the allowed tools (auto: from the program's name)")
    p.add_argument("--autonomy", default="low", help="droid exec --auto level")
    p.add_argument("--permission-mode", default="acceptEdits", help="claude --permission-mode")
    p.add_argument("--max-turns", type=int, default=None, help="claude --max-turns")
    budget = os.environ.get("SLASHMAKE_AGENT_MAX_COST_USD") or None
    p.add_argument("--max-cost-usd", type=float, default=float(budget) if budget else None,
                   help="the run's agent budget (default: $SLASHMAKE_AGENT_MAX_COST_USD, set from config)")
    p.add_argument("--ledger", default="results/ledger.jsonl", metavar="PATH")
    p.add_argument("--step", default="", help="the step's name in the ledger (default: the command's)")
    p.add_argument("--tools", default=None, metavar="IDS",
                   help="the tools the compiler resolved (comma-separated Factory IDs, or 'all'); "
                        "with --model and --effort, instead of reading them from the files")
    p.add_argument("--model", default=None, help="the model the compiler resolved ('' for the program's own)")
    p.add_argument("--effort", default=None, help="the reasoning effort the compiler resolved")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="SECONDS")
    return p


def invocation(args: argparse.Namespace, cmd: Definition, droid: Definition | None, prompt: str) -> Invocation:
    """The program's argv, stdin and output format for this step."""
    if args.tools is not None:  # compiled rules: the compiler's resolution, not a second one here
        tools = None if args.tools == "all" else frozenset(t for t in args.tools.split(",") if t)
        model, effort = args.model or "", args.effort or ""
    else:
        tools = step_tools(cmd, droid)
        model, effort = model_and_effort(cmd, droid)
    prompt_file = os.path.abspath(args.prompt_out)
    raw_allowed = cmd.meta.get("allowed-tools")
    if args.preset:
        tools_args = to_program_form(tools, args.preset, raw=raw_allowed)
        settings = Settings(model, effort, args.autonomy, args.permission_mode, args.max_turns,
                            args.output or "stream-json")
        return preset_argv(args.preset, settings, prompt_file, tools_args, os.getcwd(), prompt)
    program = _json_list(args.program, "--program")
    if not program:
        raise AgentError("no agent program: set agent.preset (droid or claude) or agent.program "
                         "in config/config.yaml", EXIT_USAGE)
    fmt = args.tools_format if args.tools_format != "auto" else guess_tools_format(program)
    argv = build_argv(program, prompt_file, prompt, to_program_form(tools, fmt, raw=raw_allowed),
                      {"model": model, "effort": effort})
    return Invocation(argv, None, args.output or "text", program[0])


def run(args: argparse.Namespace) -> int:
    """One agent step, start to end; raises AgentError on any failure."""
    # Outputs from an earlier, failed attempt must not survive this one.
    for path in (args.response_out, args.metrics_out):
        remove(path)
    arguments = _json_list(args.arguments, "--arguments")
    if args.timeout <= 0:
        raise AgentError("--timeout must be positive", EXIT_USAGE)
    inputs = _parse_inputs(args.input)
    params = _parse_params(args.param)
    cmd = load_definition(args.command, "command")
    droid = load_definition(args.droid, "droid") if args.droid else None
    label = f"/{command_name(cmd)}" + (f" as droid {droid.name}" if droid else "")
    ledger = Path(args.ledger)
    check_budget(ledger, args.max_cost_usd, label)

    prompt = render_prompt(cmd, droid, arguments, inputs, params, cwd=os.getcwd())
    write_atomic(args.prompt_out, prompt)
    inv = invocation(args, cmd, droid, prompt)
    shown = [a if len(a) < 200 else a[:60] + f"...<{len(a)} chars>" for a in inv.argv]
    print(f"{PROG}: running {label}: {json.dumps(shown)} (timeout {args.timeout:g}s)", file=sys.stderr, flush=True)

    env = dict(os.environ)
    env.update(SLASHMAKE_COMMAND=command_name(cmd), SLASHMAKE_DROID=droid.name if droid else "",
               SLASHMAKE_PROMPT_FILE=os.path.abspath(args.prompt_out))

    def echo(line: str) -> None:
        sys.stderr.write(line if line.endswith("\n") else line + "\n")
        sys.stderr.flush()

    progress = progress_printer(f"{PROG}: {label}") if inv.output == "stream-json" else None
    # droid exec has no --max-turns: slashmake counts its tool calls and stops it past agent.max_turns
    limit = args.max_turns if args.preset == "droid" and args.max_turns else None
    outcome = run_program(inv.argv, args.timeout, env, stdin=inv.stdin, on_stdout=progress, on_stderr=echo,
                          stop=turn_counter(limit) if limit and inv.output == "stream-json" else None)

    who = f"agent program {inv.name or inv.argv[0]!r} ({label})"
    if outcome.stopped:
        raise AgentError(f"{who} was stopped after more than {limit} turns (agent.max_turns)")
    if outcome.returncode is None:
        raise AgentError(f"{who} timed out after {args.timeout:g}s and was stopped; {_said(outcome)}")
    if outcome.returncode != 0:
        status = outcome.returncode
        what = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
        raise AgentError(f"{who} {what} after {outcome.seconds:.1f}s; {_said(outcome)}")
    if not outcome.stdout.strip():
        raise AgentError(f"{who} exited 0 but printed no answer (empty stdout); end of its stderr:\n"
                         f"{tail(outcome.stderr)}")
    answer = parse_output(outcome.stdout, inv.output, who)
    if limit and answer.turns is not None and answer.turns > limit:
        raise AgentError(f"{who} took {answer.turns} turns, more than agent.max_turns ({limit}): its answer is "
                         "not used")
    try:
        metrics = extract_metrics(answer.text)
    except AgentError as exc:
        raise AgentError(f"{who}: {exc}\nend of the answer:\n{answer.text.strip()[-2000:]}") from None
    keys, _ = metric_keys(cmd)
    absent = [k for k in keys if k not in metrics]
    if absent:
        print(f"{PROG}: warning: the answer's metrics lack declared keys: {', '.join(absent)}", file=sys.stderr)
    metrics.update(answer.metrics())

    text = answer.text if answer.text.endswith("\n") else answer.text + "\n"
    try:
        write_atomic(args.response_out, text)
        write_atomic(args.metrics_out, json.dumps(metrics, indent=2, sort_keys=True) + "\n")  # last
    except BaseException:
        remove(args.response_out)
        remove(args.metrics_out)
        raise
    # The ledger row: the answer's metrics, then what the run cost (turns, cost_usd, model...).
    row = {k: v for k, v in metrics.items() if not k.startswith("agent_")}
    row.update({k.removeprefix("agent_"): v for k, v in answer.metrics().items()})
    append_row(ledger, args.step or command_name(cmd), row)
    cost = f", ${answer.cost_usd:.4f}" if answer.cost_usd is not None else ""
    turns = f", {answer.turns} turns" if answer.turns is not None else ""
    print(f"{PROG}: {label} answered in {outcome.seconds:.1f}s{turns}{cost}: {args.response_out}", file=sys.stderr)
    note_budget(ledger, args.max_cost_usd)
    return 0


def turn_counter(limit: int) -> Callable[[str], bool]:
    """A stdout watcher for Droid's stream-json: True once it has made more than ``limit`` tool calls."""
    calls = [0]

    def over(line: str) -> bool:
        if '"tool_call"' in line:
            try:
                calls[0] += json.loads(line).get("type") == "tool_call"
            except (json.JSONDecodeError, AttributeError):
                pass
        return calls[0] > limit

    return over


def _said(outcome: Outcome) -> str:
    """The end of what a failed program said: its stderr, or its stdout when stderr is empty (both CLIs
    can report a login or key problem on stdout)."""
    if outcome.stderr.strip() or not outcome.stdout.strip():
        return f"end of its stderr:\n{tail(outcome.stderr)}"
    return f"its stderr was empty; end of its stdout:\n{tail(outcome.stdout)}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; the exit status of the step."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except AgentError as exc:
        # the runtime's shared error prefix: `slashmake run` prints these lines, naming the step
        print(f"{FAILURE}{exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
