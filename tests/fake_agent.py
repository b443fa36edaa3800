#!/usr/bin/env python3
"""A stand-in agent program for tests (no LLM service runs here). Stdlib only.

Takes the prompt as a file (``-f PATH``, ``--file PATH``, ``--prompt-file PATH``) or as text
(``-p TEXT``, ``--prompt TEXT`` or a bare word); every other word is accepted and recorded, so it
stands in for ``droid exec --auto low -f {prompt_file}`` and ``claude -p {prompt}`` alike.

Its answer is deterministic from the prompt:

    # Fake agent answer
    droid: <name from "# Role: NAME", or none>
    task: <"# Task: /cmd args" line, or none>
    prompt-sha256: <first 16 hex digits of the prompt's sha256>
    tools: <the value after --allowedTools / --enabled-tools, or none>
    input <name>: <path> sha256=<16 hex>      (one per upstream input listed in the prompt)

then a fenced ```json block of metrics when there are any:
- every key the prompt's "## Answer format" section lists gets a value in [0, 1) from the hash;
- a line ``VERDICT: <word>`` gives ``approved`` (true for approve/approved/yes/pass/ok/true/lgtm)
  and ``verdict``;
- lines ``FAKE_METRIC: key=value`` set metrics (value parsed as JSON when it can be);
- FAKE_AGENT_METRICS (a JSON object) is merged last.

Knobs (environment):
    FAKE_AGENT_SLEEP=S        sleep S seconds before answering (concurrency, timeouts)
    FAKE_AGENT_BARRIER=DIR:N  before that, sign in to DIR and wait until N calls have signed in
                              (proves calls overlap without relying on timing; exit 75 after 120 s)
    FAKE_AGENT_FAIL=N         exit with status N after a message on stderr
    FAKE_AGENT_FAIL_TIMES=K   with FAKE_AGENT_STATE=FILE: fail (status FAKE_AGENT_FAIL or 1) the
                              first K calls only, counting in FILE (retry tests)
    FAKE_AGENT_EMPTY=1        exit 0 with an empty answer
    FAKE_AGENT_MATCH=REGEX    the knobs above apply only to calls whose name matches
    FAKE_AGENT_TRACE=FILE     append "start <name> <time.time()>" and "end <name> <t>" lines
    FAKE_AGENT_ARGV=FILE      append the argv it got, as one JSON line
    FAKE_AGENT_NAME=NAME      the call's name (default: "<droid>:<command>" or "<command>")
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time

APPROVE = {"approve", "approved", "yes", "pass", "passed", "ok", "true", "lgtm", "accept", "accepted"}


def _append(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line.rstrip("\n") + "\n").encode())
    finally:
        os.close(fd)


def _parse_argv(argv: list[str]) -> tuple[str, str | None]:
    prompt_text: str | None = None
    prompt_file: str | None = None
    tools: str | None = None
    i = 0
    while i < len(argv):
        word = argv[i]
        nxt = argv[i + 1] if i + 1 < len(argv) else None
        if word in ("-f", "--file", "--prompt-file") and nxt is not None:
            prompt_file = nxt
            i += 2
            continue
        if word in ("-p", "--prompt", "--print") and nxt is not None and not nxt.startswith("--"):
            prompt_text = nxt
            i += 2
            continue
        if word in ("--allowedTools", "--allowed-tools", "--enabled-tools") and nxt is not None:
            tools = nxt
            i += 2
            continue
        if word.startswith("--enabled-tools=") or word.startswith("--allowedTools="):
            tools = word.split("=", 1)[1]
        elif not word.startswith("-") and prompt_text is None and prompt_file is None and "\n" in word:
            prompt_text = word
        i += 1
    if prompt_file is not None:
        with open(prompt_file, encoding="utf-8") as fh:
            return fh.read(), tools
    if prompt_text is None:
        sys.stderr.write("fake-agent: no prompt (give -f FILE or -p TEXT)\n")
        sys.exit(64)
    return prompt_text, tools


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _value(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _section(prompt: str, title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}\s*$(.*?)(?=^#{{1,2}} |\Z)", prompt, re.M | re.S)
    return m.group(1) if m else ""


def answer_text(prompt: str, tools: str | None) -> str:
    """The deterministic answer to ``prompt`` (shared with the droid/claude emulators)."""
    droid_m = re.search(r"^# Role: (\S+)", prompt, re.M)
    task_m = re.search(r"^# Task: (/.*)$", prompt, re.M)
    droid = droid_m.group(1) if droid_m else None
    task = task_m.group(1).strip() if task_m else None
    digest = _sha(prompt.encode())
    lines = [
        "# Fake agent answer",
        "",
        f"droid: {droid or 'none'}",
        f"task: {task or 'none'}",
        f"prompt-sha256: {digest}",
        f"tools: {tools if tools is not None else 'none'}",
    ]
    for m in re.finditer(r"^- `([^`]+)`: (.+)$", _section(prompt, "Upstream inputs"), re.M):
        path = m.group(2).strip()
        try:
            with open(path, "rb") as fh:
                sha = _sha(fh.read())
        except OSError:
            sha = "unreadable"
        lines.append(f"input {m.group(1)}: {path} sha256={sha}")

    metrics: dict[str, object] = {}
    for i, m in enumerate(re.finditer(r"^- `([^`]+)`", _section(prompt, "Answer format"), re.M)):
        seed = hashlib.sha256(f"{digest}:{m.group(1)}:{i}".encode()).hexdigest()
        metrics[m.group(1)] = round(int(seed[:8], 16) / 16**8, 3)
    verdict = re.search(r"^\s*VERDICT:\s*([\w-]+)", prompt, re.M)
    if verdict:
        word = verdict.group(1).lower()
        metrics["approved"] = word in APPROVE
        metrics["verdict"] = word
    for m in re.finditer(r"^\s*FAKE_METRIC:\s*([\w.-]+)\s*=\s*(\S+)", prompt, re.M):
        metrics[m.group(1)] = _value(m.group(2))
    if os.environ.get("FAKE_AGENT_METRICS"):
        extra = json.loads(os.environ["FAKE_AGENT_METRICS"])
        if isinstance(extra, dict):
            metrics.update(extra)
    if metrics:
        lines += ["", "```json", json.dumps(metrics, sort_keys=True), "```"]
    return "\n".join(lines) + "\n"


def _meet(spec: str, name: str, timeout: float = 120.0) -> bool:
    """Sign in to the barrier folder, then wait until N calls have: False when they never do."""
    folder, _, count = spec.rpartition(":")
    os.makedirs(folder, exist_ok=True)
    safe_name = re.sub(r"[^\w.-]", "_", name)
    _append(os.path.join(folder, f"{safe_name}.{os.getpid()}"), "here")
    deadline = time.monotonic() + timeout
    while len(os.listdir(folder)) < int(count):
        if time.monotonic() > deadline:
            sys.stderr.write(f"fake-agent: {name}: only {len(os.listdir(folder))} of {count} calls met\n")
            return False
        time.sleep(0.02)
    return True


def main() -> int:
    argv = sys.argv[1:]
    if os.environ.get("FAKE_AGENT_ARGV"):
        _append(os.environ["FAKE_AGENT_ARGV"], json.dumps(argv))
    prompt, tools = _parse_argv(argv)

    droid_m = re.search(r"^# Role: (\S+)", prompt, re.M)
    task_m = re.search(r"^# Task: (/.*)$", prompt, re.M)
    droid = droid_m.group(1) if droid_m else None
    task = task_m.group(1).strip() if task_m else None
    command = task.split()[0].lstrip("/") if task else "unknown"
    name = os.environ.get("FAKE_AGENT_NAME") or (f"{droid}:{command}" if droid else command)
    digest = _sha(prompt.encode())

    match = os.environ.get("FAKE_AGENT_MATCH")
    knobs_apply = not match or re.search(match, name) is not None
    trace = os.environ.get("FAKE_AGENT_TRACE")
    sys.stderr.write(f"fake-agent: {name}: prompt {len(prompt)} chars, sha {digest}\n")

    if trace:
        _append(trace, f"start {name} {time.time():.6f}")
    try:
        barrier = os.environ.get("FAKE_AGENT_BARRIER") if knobs_apply else None
        if barrier and not _meet(barrier, name):
            return 75
        sleep = float(os.environ.get("FAKE_AGENT_SLEEP") or 0) if knobs_apply else 0.0
        if sleep > 0:
            time.sleep(sleep)
        fail = os.environ.get("FAKE_AGENT_FAIL")
        fail_times = os.environ.get("FAKE_AGENT_FAIL_TIMES")
        if knobs_apply and fail_times:
            state = os.environ.get("FAKE_AGENT_STATE") or ".fake_agent_state"
            count = 0
            if os.path.exists(state):
                with open(state) as fh:
                    count = int(fh.read().strip() or 0)
            with open(state, "w") as fh:
                fh.write(str(count + 1))
            if count < int(fail_times):
                code = int(fail or 1)
                sys.stderr.write(f"fake-agent: simulated failure {count + 1} of {fail_times} (exit {code})\n")
                return code
        elif knobs_apply and fail and int(fail) != 0:
            sys.stderr.write(f"fake-agent: simulated failure for {name} (exit {int(fail)})\n")
            return int(fail)
        if knobs_apply and os.environ.get("FAKE_AGENT_EMPTY"):
            sys.stderr.write("fake-agent: answering nothing, as asked\n")
            sys.stdout.write("  \n")
            return 0

        sys.stdout.write(answer_text(prompt, tools))
        return 0
    finally:
        if trace:
            _append(trace, f"end {name} {time.time():.6f}")


if __name__ == "__main__":
    sys.exit(main())
