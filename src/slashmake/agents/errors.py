"""The agent runtime's error: a :class:`FlowError` with the exit status the step ends with."""

from __future__ import annotations

from slashmake.errors import EXIT_FAILED, FlowError

# EXIT_FAILED (1): the agent program failed, timed out, gave no answer, or the budget is spent
EXIT_USAGE = 2  # bad arguments or definition files


class AgentError(FlowError):
    """A failure with a message for the step log, and an exit status."""

    kind = "agent error"

    def __init__(self, message: str, status: int = EXIT_FAILED) -> None:
        super().__init__(message, exit_code=status)
        self.status = status
