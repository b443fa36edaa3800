"""Running ssh and rsync through the ``sh`` package: argv lists only, never a shell."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .argv import Target, redact, tail


@dataclass
class Result:
    """What one command returned."""

    argv: list[str]
    exit_code: int
    stdout: str
    stderr: str


class RunpodError(Exception):
    """A step on the pod failed; the message names host, command, exit code and stderr's end."""

    def __init__(self, step: str, target: Target, result: Result, secrets: Sequence[str] = ()):
        self.step = step
        self.exit_code = result.exit_code
        cmd = shlex.join(result.argv)
        if len(cmd) > 1500:
            cmd = cmd[:1500] + " …"
        msg = (
            f"runpod: {step} failed on {target.where} (host {target.host}, port {target.port}): "
            f"exit code {result.exit_code}\n  command: {cmd}\n"
            f"  stderr (end):\n{_indent(tail(result.stderr) or '(empty)')}"
        )
        super().__init__(redact(msg, secrets))


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


@dataclass
class Runner:
    """Runs commands, retrying the ones marked as transfers."""

    target: Target
    retries: int = 3
    retry_wait: float = 2.0
    timeout: float | None = None
    secrets: list[str] = field(default_factory=list)
    on_retry: Callable[[], None] | None = None

    def run(self, argv: Sequence[str], stdin: str = "") -> Result:
        """Run argv once; never raises for a non-zero exit."""
        import sh  # heavy-ish; imported on first use, not at plugin import

        cmd = sh.Command(argv[0])
        try:
            proc = cmd(
                *argv[1:],
                _in=stdin,
                _return_cmd=True,
                _ok_code=list(range(256)),
                _tty_out=False,
                _timeout=self.timeout,
                _encoding="utf-8",
                _decode_errors="replace",
            )
        except sh.TimeoutException:
            return Result(list(argv), 124, "", f"timed out after {self.timeout}s")
        return Result(list(argv), int(proc.exit_code), _text(proc.stdout), _text(proc.stderr))

    def check(self, step: str, argv: Sequence[str], stdin: str = "") -> Result:
        """Run argv once; raise RunpodError on a non-zero exit."""
        result = self.run(argv, stdin)
        if result.exit_code != 0:
            raise RunpodError(step, self.target, result, self.secrets)
        return result

    def transfer(self, step: str, argv: Sequence[str], stdin: str = "") -> Result:
        """Run argv, retrying up to ``retries`` more times with growing waits."""
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            result = self.run(argv, stdin)
            if result.exit_code == 0:
                return result
            if attempt < attempts:
                time.sleep(self.retry_wait * 2 ** (attempt - 1))
                if self.on_retry is not None:
                    self.on_retry()
        raise RunpodError(f"{step} (after {attempts} attempts)", self.target, result, self.secrets)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value or "")
