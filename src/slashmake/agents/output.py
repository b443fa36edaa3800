"""Running the agent program and reading what it prints.

The program runs in its own session (a timeout kills it and its children). Its stdout is read line
by line while it runs: with ``--output-format stream-json`` each event becomes one progress line on
stderr, which is the step's log, so the log shows the agent working, not only its end.

What it printed is read as its output format says:

- ``text``: stdout is the answer.
- ``json``: one envelope ``{"type": "result", "is_error", "num_turns", "result", "session_id",
  "duration_ms", "total_cost_usd"?...}`` (Claude Code and ``droid exec`` alike).
- ``stream-json``: one JSON event a line. Claude Code ends with the same ``result`` envelope; Droid
  ends with ``{"type": "completion", "finalText", "numTurns", "durationMs", "session_id"}``; both
  open with a ``system``/``init`` event naming the model.

A run that exits 0 can still have failed: ``is_error: true``, zero turns, an empty answer, or a
stream without its final event. Each is an AgentError here, so the step fails and publishes nothing.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from slashmake.agents.errors import AgentError

KILL_GRACE_S = 5.0
STDERR_TAIL = 2000
PROGRESS_WIDTH = 200


@dataclass
class Outcome:
    """How the program ended and what it printed."""

    returncode: int | None  # None: killed at the timeout
    stdout: str
    stderr: str
    seconds: float
    stopped: bool = False  # ``stop`` said so: the program was stopped before it finished


@dataclass
class Answer:
    """The answer and what the agent reported about its run."""

    text: str
    turns: int | None = None
    duration_s: float | None = None
    session_id: str | None = None
    cost_usd: float | None = None
    model: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def metrics(self) -> dict[str, Any]:
        """The run's figures as flat ``agent_*`` metrics (those the program gave)."""
        out: dict[str, Any] = {"agent_turns": self.turns, "agent_duration_s": self.duration_s,
                               "agent_session_id": self.session_id, "agent_cost_usd": self.cost_usd,
                               "agent_model": self.model}
        return {k: v for k, v in out.items() if v is not None}


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _pump(stream: IO[bytes], sink: list[str], on_line: Callable[[str], None] | None) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", errors="replace")
        sink.append(line)
        if on_line is not None:
            on_line(line)
    stream.close()


def run_program(argv: Sequence[str], timeout: float, env: dict[str, str] | None = None,
                stdin: str | None = None, on_stdout: Callable[[str], None] | None = None,
                on_stderr: Callable[[str], None] | None = None,
                stop: Callable[[str], bool] | None = None) -> Outcome:
    """Run ``argv`` with a timeout; stdout and stderr lines go to the callbacks as they arrive.

    ``stop`` sees each stdout line; once it returns True the program and its children are stopped
    (a limit the program itself does not keep, such as a number of turns).
    """
    start = time.monotonic()
    try:
        proc = subprocess.Popen(  # noqa: S603 - an argv list from config, never a shell string
            list(argv),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # so a timeout kills the program and its children
            env=env,
        )
    except FileNotFoundError:
        raise AgentError(
            f"agent program {argv[0]!r} not found (is it installed and on PATH? "
            "the program comes from the agent settings in config/config.yaml)"
        ) from None
    except OSError as exc:  # permissions, E2BIG (a huge {prompt}: use {prompt_file} instead)
        raise AgentError(f"cannot start agent program {argv[0]!r}: {exc}") from None
    out: list[str] = []
    err: list[str] = []
    assert proc.stdout is not None and proc.stderr is not None
    stopped: list[bool] = []

    def watch(line: str) -> None:
        if on_stdout is not None:
            on_stdout(line)
        if stop is not None and not stopped and stop(line):
            stopped.append(True)
            _kill_group(proc)

    pumps = [threading.Thread(target=_pump, args=(proc.stdout, out, watch), daemon=True),
             threading.Thread(target=_pump, args=(proc.stderr, err, on_stderr), daemon=True)]
    for t in pumps:
        t.start()
    code: int | None
    try:
        if stdin is not None:
            assert proc.stdin is not None
            try:
                proc.stdin.write(stdin.encode("utf-8"))
                proc.stdin.close()
            except BrokenPipeError:
                pass  # it exited without reading: its status says why
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        code = None
    except BaseException:
        _kill_group(proc)
        raise
    else:
        # the program is done; leftovers it started in its session go too
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for t in pumps:
        t.join(timeout=10)
    return Outcome(code, "".join(out), "".join(err), time.monotonic() - start, bool(stopped))


def tail(text: str, n: int = STDERR_TAIL) -> str:
    """The end of ``text`` for an error message."""
    text = text.strip()
    if not text:
        return "(stderr was empty)"
    return ("..." + text[-n:]) if len(text) > n else text


# --------------------------------------------------------------------------- progress


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= PROGRESS_WIDTH else text[: PROGRESS_WIDTH - 3] + "..."


def describe_event(event: dict[str, Any]) -> str | None:
    """One progress line for a stream-json event (Claude Code's or Droid's), or None."""
    kind = event.get("type")
    if kind == "system" and event.get("subtype") == "init":
        return f"session {event.get('session_id', '?')} started (model {event.get('model', '?')})"
    if kind == "assistant":  # Claude Code: an Anthropic message
        parts = []
        for block in (event.get("message") or {}).get("content") or []:
            if block.get("type") == "text" and block.get("text"):
                parts.append(f"says: {_short(block['text'])}")
            elif block.get("type") == "tool_use":
                parts.append(f"uses {block.get('name')}: {_short(json.dumps(block.get('input', {})))}")
        return "; ".join(parts) or None
    if kind == "message" and event.get("role") == "assistant":  # Droid
        return f"says: {_short(event.get('text', ''))}"
    if kind == "tool_call":
        return f"uses {event.get('toolName')}: {_short(json.dumps(event.get('parameters', {})))}"
    if kind == "tool_result":
        return f"tool {'failed' if event.get('isError') else 'done'}: {_short(event.get('value', ''))}"
    if kind in ("result", "completion"):
        return "finished"
    if kind == "error":
        return f"error: {_short(event.get('message', ''))}"
    return None


def progress_printer(prefix: str) -> Callable[[str], None]:
    """A stdout callback that prints one progress line per stream-json event to stderr."""
    def on_line(line: str) -> None:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            return
        if isinstance(event, dict):
            text = describe_event(event)
            if text:
                print(f"{prefix}: {text}", file=sys.stderr, flush=True)
    return on_line


# --------------------------------------------------------------------------- envelopes


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _from_result(ev: dict[str, Any], model: str | None, who: str) -> Answer:
    """Claude Code's and droid exec's ``result`` envelope."""
    if ev.get("is_error") is True or str(ev.get("subtype", "success")) != "success":
        detail = ev.get("result") or ev.get("error") or ev.get("subtype") or "no detail"
        raise AgentError(f"{who} reported an error although it exited 0 "
                         f"(is_error: {str(ev.get('is_error')).lower()}, subtype: {ev.get('subtype')}): {_short(detail)}")
    usage_models = ev.get("modelUsage")
    if not model and isinstance(usage_models, dict) and usage_models:
        model = next(iter(usage_models))
    duration = _num(ev.get("duration_ms"))
    turns = ev.get("num_turns")
    return Answer(str(ev.get("result") or ""), turns if isinstance(turns, int) else None,
                  None if duration is None else round(duration / 1000, 3), ev.get("session_id"),
                  _num(ev.get("total_cost_usd")), model or ev.get("model"))


def _from_completion(ev: dict[str, Any], model: str | None) -> Answer:
    """Droid's final stream-json event."""
    duration = _num(ev.get("durationMs"))
    turns = ev.get("numTurns")
    return Answer(str(ev.get("finalText") or ""), turns if isinstance(turns, int) else None,
                  None if duration is None else round(duration / 1000, 3), ev.get("session_id"),
                  _num(ev.get("total_cost_usd", ev.get("costUsd"))), model or ev.get("model"))


def parse_output(stdout: str, output: str, who: str) -> Answer:
    """The answer in ``stdout`` printed in ``output`` format; silent failures raise AgentError."""
    if output == "text":
        answer = Answer(stdout)
    elif output == "json":
        try:
            ev = json.loads(stdout)
        except json.JSONDecodeError as exc:
            raise AgentError(f"{who} printed no JSON envelope ({exc}); its output began: {_short(stdout)}") from None
        if not isinstance(ev, dict):
            raise AgentError(f"{who} printed JSON that is not an envelope object: {_short(stdout)}")
        answer = _from_result(ev, None, who)
    else:
        answer = _from_stream(stdout, who)
    if answer.turns == 0:
        raise AgentError(f"{who} exited 0 but took zero turns: it did no work (num_turns: 0)")
    if not answer.text.strip():
        raise AgentError(f"{who} exited 0 but its answer is empty")
    return answer


def _from_stream(stdout: str, who: str) -> Answer:
    model: str | None = None
    errors: list[str] = []
    for line in stdout.splitlines():
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(ev, dict):
            continue
        kind = ev.get("type")
        if kind == "system" and ev.get("subtype") == "init":
            model = ev.get("model") or model
        elif kind == "error":
            errors.append(str(ev.get("message") or ev))
        elif kind == "result":
            return _from_result(ev, model, who)
        elif kind == "completion":
            return _from_completion(ev, model)
    why = f": {_short(errors[-1])}" if errors else ""
    raise AgentError(f"{who} exited 0 but its stream-json output ended without a final result event{why}")
