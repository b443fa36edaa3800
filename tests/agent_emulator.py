"""Emulators of the ``droid`` and ``claude`` CLIs for tests: stand-ins, since no LLM service runs here.

``tests/bin/droid`` and ``tests/bin/claude`` run this. Each takes its CLI's documented flags
(``droid exec``: -o/--output-format, -f/--file, --auto, --skip-permissions-unsafe, -s, -m, -r,
--enabled-tools, --disabled-tools, --cwd; ``claude -p``: --output-format, --verbose,
--permission-mode, --model, --effort, --max-turns, --allowedTools, --disallowedTools, --add-dir,
--append-system-prompt, the prompt as an argument or on stdin) and refuses an unknown one, as
the real CLIs do. It answers deterministically (tests/fake_agent.py's answer to the prompt) in
the output format asked for:

- text: the answer;
- json: ``{"type": "result", "subtype": "success", "is_error": false, "duration_ms", "num_turns",
  "result", "session_id"}``, plus ``total_cost_usd`` and ``modelUsage`` from claude;
- stream-json: claude's ``system/init``, ``assistant`` messages (a text block, a tool_use block),
  ``user`` tool results and the final ``result`` event (``--verbose`` required, as claude
  requires it); droid's ``system/init``, ``message``, ``tool_call``, ``tool_result`` and the final
  ``completion`` event.

Knobs (environment):
    EMU_SHAPE=ok|is_error|zero_turns|empty_result|no_result|crash   the failure shape to play
    EMU_MATCH=REGEX     the shape applies only when the task line (``# Task: /cmd``) matches
    EMU_COST=USD        claude's total_cost_usd (default 0.0125)
    EMU_TURNS=N         turns reported (default 3)
    EMU_DELAY=S         seconds between stream events (to watch progress stream)
    EMU_ARGV=FILE       append {"cli", "argv", "cwd", "stdin": bool, "task"} as one JSON line
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_agent import _append, answer_text  # noqa: E402

DROID_VALUE_FLAGS = {"-o": "output", "--output-format": "output", "-f": "file", "--file": "file",
                     "--auto": "auto", "-s": "session", "--session-id": "session", "-m": "model",
                     "--model": "model", "-r": "effort", "--reasoning-effort": "effort",
                     "--enabled-tools": "tools", "--disabled-tools": "disabled", "--cwd": "cwd",
                     "--input-format": "input_format"}
DROID_BOOL_FLAGS = {"--skip-permissions-unsafe", "--list-tools", "--use-spec"}
CLAUDE_VALUE_FLAGS = {"--output-format": "output", "--permission-mode": "permission_mode",
                      "--model": "model", "--effort": "effort", "--max-turns": "max_turns",
                      "--allowedTools": "tools", "--allowed-tools": "tools",
                      "--disallowedTools": "disabled", "--disallowed-tools": "disabled",
                      "--add-dir": "add_dir", "--append-system-prompt": "append", "-r": "session",
                      "--resume": "session", "--input-format": "input_format"}
CLAUDE_BOOL_FLAGS = {"-p", "--print", "--verbose", "--dangerously-skip-permissions", "-c", "--continue"}


def fail(cli: str, message: str, code: int = 1) -> None:
    sys.stderr.write(f"{cli}: error: {message}\n")
    sys.exit(code)


def parse(cli: str, argv: list[str]) -> tuple[dict[str, str], set[str], list[str]]:
    values_map, bools = (DROID_VALUE_FLAGS, DROID_BOOL_FLAGS) if cli == "droid" else \
        (CLAUDE_VALUE_FLAGS, CLAUDE_BOOL_FLAGS)
    values: dict[str, str] = {}
    flags: set[str] = set()
    words: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        name, eq, inline = word.partition("=")
        if name in values_map:
            if eq:
                values[values_map[name]] = inline
                i += 1
                continue
            if i + 1 >= len(argv):
                fail(cli, f"option '{word}' argument missing")
            values[values_map[name]] = argv[i + 1]
            i += 2
            continue
        if word in bools:
            flags.add(word)
        elif word.startswith("-") and word != "-":
            fail(cli, f"unknown option '{word}'")
        else:
            words.append(word)
        i += 1
    return values, flags, words


def emit(obj: dict[str, Any], delay: float) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
    if delay:
        time.sleep(delay)


def main(cli: str) -> int:
    argv = sys.argv[1:]
    if cli == "droid":
        if not argv or argv[0] != "exec":
            fail("droid", "this emulator knows only `droid exec`")
        argv = argv[1:]
    values, flags, words = parse(cli, argv)
    if cli == "claude" and not flags & {"-p", "--print"}:
        fail("claude", "this emulator knows only headless mode (claude -p)")
    output = values.get("output", "text")
    if output not in ("text", "json", "stream-json"):
        fail(cli, f"invalid output format '{output}'")
    if cli == "claude" and output == "stream-json" and "--verbose" not in flags:
        fail("claude", "When using --print, --output-format=stream-json requires --verbose")
    if cli == "droid" and values.get("auto", "low") not in ("low", "medium", "high"):
        fail("droid", f"invalid autonomy level '{values['auto']}'")
    if cli == "claude" and "max_turns" in values and not values["max_turns"].isdigit():
        fail("claude", f"--max-turns must be a number, got '{values['max_turns']}'")

    from_stdin = False
    if "file" in values:
        with open(values["file"], encoding="utf-8") as fh:
            prompt = fh.read()
    elif words:
        prompt = words[0]
    else:
        prompt = sys.stdin.read()
        from_stdin = True
    task = re.search(r"^# Task: (/.*)$", prompt, re.M)
    if os.environ.get("EMU_ARGV"):
        _append(os.environ["EMU_ARGV"], json.dumps({"cli": cli, "argv": sys.argv[1:], "cwd": os.getcwd(),
                                                     "stdin": from_stdin, "task": task.group(1) if task else None}))
    if not prompt.strip():
        fail(cli, "no prompt given")

    match = os.environ.get("EMU_MATCH")
    shape = os.environ.get("EMU_SHAPE", "ok")
    if match and not (task and re.search(match, task.group(1))):
        shape = "ok"
    if shape == "crash":
        fail(cli, "simulated crash (EMU_SHAPE=crash)", 3)

    answer = answer_text(prompt, values.get("tools"))
    turns = int(os.environ.get("EMU_TURNS", "3"))
    is_error = shape == "is_error"
    if shape == "zero_turns":
        turns, answer = 0, ""
    if shape in ("empty_result", "is_error"):
        answer = "" if shape == "empty_result" else "API Error: 529 overloaded"
    model = values.get("model") or ("claude-sonnet-4-5" if cli == "claude" else "claude-opus-4-1")
    session = hashlib.sha256(prompt.encode()).hexdigest()[:8] + "-emu-session"
    cost = float(os.environ.get("EMU_COST", "0.0125"))
    duration_ms = 1000 + 10 * len(prompt) % 5000
    delay = float(os.environ.get("EMU_DELAY", "0"))

    result: dict[str, Any] = {"type": "result", "subtype": "error_during_execution" if is_error else "success",
                              "is_error": is_error, "duration_ms": duration_ms, "num_turns": turns,
                              "result": answer, "session_id": session}
    if cli == "claude":
        result["duration_api_ms"] = duration_ms - 100
        result["total_cost_usd"] = cost
        result["modelUsage"] = {model: {"inputTokens": len(prompt) // 4, "outputTokens": len(answer) // 4,
                                        "costUSD": cost}}
    if output == "text":
        sys.stdout.write(answer)
        return 0
    if output == "json":
        sys.stdout.write(json.dumps(result) + "\n")
        return 0
    tool = "Read"
    if cli == "claude":
        emit({"type": "system", "subtype": "init", "session_id": session, "model": model,
              "cwd": os.getcwd(), "tools": (values.get("tools") or "Read").split(","),
              "permissionMode": values.get("permission_mode", "default")}, delay)
        emit({"type": "assistant", "session_id": session, "message": {"role": "assistant", "model": model, "content": [
            {"type": "text", "text": "Reading the prompt's inputs."},
            {"type": "tool_use", "id": "toolu_1", "name": tool, "input": {"file_path": "README.md"}}]}}, delay)
        emit({"type": "user", "session_id": session, "message": {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}]}}, delay)
        if shape != "no_result":
            emit({"type": "assistant", "session_id": session, "message": {"role": "assistant", "model": model,
                  "content": [{"type": "text", "text": answer}]}}, delay)
            emit(result, 0)
        return 0
    emit({"type": "system", "subtype": "init", "cwd": values.get("cwd", os.getcwd()), "session_id": session,
          "tools": (values.get("tools") or "Read").split(","), "model": model}, delay)
    emit({"type": "message", "role": "user", "id": "m1", "text": prompt[:200], "session_id": session}, delay)
    emit({"type": "tool_call", "id": "t1", "messageId": "m2", "toolId": tool, "toolName": tool,
          "parameters": {"file_path": "README.md"}, "session_id": session}, delay)
    emit({"type": "tool_result", "id": "t1", "messageId": "m3", "toolId": tool, "isError": False,
          "value": "ok", "session_id": session}, delay)
    if shape == "no_result":
        emit({"type": "error", "message": "connection lost", "session_id": session}, 0)
        return 0
    if is_error:
        emit({"type": "error", "message": answer, "session_id": session}, 0)
        emit({**result, "type": "result"}, 0)  # droid's error envelope
        return 0
    emit({"type": "message", "role": "assistant", "id": "m4", "text": answer, "session_id": session}, delay)
    emit({"type": "completion", "finalText": answer, "numTurns": turns, "durationMs": duration_ms,
          "session_id": session}, 0)
    return 0
