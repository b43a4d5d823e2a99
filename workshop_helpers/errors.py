"""Errors the workshop raises on purpose.

Every error a learner or an instructor can cause by bad input is a `WorkshopError`:
its message is one line that says what is wrong and what to do. In IPython the
traceback is replaced by that line (`_render_traceback_`), because the traceback of
a configuration mistake teaches nothing.
"""

from __future__ import annotations


class WorkshopError(Exception):
    """A problem with the workshop's set-up or input, explained in one line."""

    def __init__(self, message: str):
        # One line, always: newlines in wrapped messages would break the CLI contract.
        super().__init__(" ".join(str(message).split()))

    def _render_traceback_(self):  # IPython hook: show the sentence, not the stack
        return [f"{type(self).__name__}: {self}"]


class BackendError(WorkshopError):
    """The backend could not be chosen, reached or authenticated."""
