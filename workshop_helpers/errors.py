"""Errors the workshop raises on purpose, and the two helpers every module uses to read
an AWS error and to put a message on one line.

Every error a learner or an instructor can cause by bad input is a `WorkshopError`:
its message is one line that says what is wrong and what to do. In IPython the
traceback is replaced by that line (`_render_traceback_`), because the traceback of
a configuration mistake teaches nothing.

The tree (each module that raises one keeps its subclasses beside the code that raises them):

    WorkshopError
    ├── BackendError                 backend.py: the backend cannot be chosen, reached or used
    ├── ClassError                   classroom/: a class cannot be set up as asked
    │   └── RosterError              classroom/roster.py: a participant name or roster change
    ├── StateError                   account/store.py: the account on disk cannot be read
    ├── MotoIncompatible             fidelity/internals.py: moto or botocore outside the tested range
    └── EnvelopeError                envelope/refusals.py: a message refused (its own tree there)
"""

from __future__ import annotations


def one_line(text: object, limit: int | None = None) -> str:
    """`text` with every run of whitespace (newlines included) made one space; cut to
    `limit` characters with an ellipsis when longer."""
    line = " ".join(str(text).split())
    if limit is not None and len(line) > limit:
        return line[: max(limit - 1, 0)] + "…"
    return line


def aws_error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ("AccessDeniedException"), else ""."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str((response.get("Error") or {}).get("Code") or "")
    return ""


def aws_error_message(exc: BaseException) -> str:
    """The AWS error message of a botocore ClientError, else str(exc)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        return str((response.get("Error") or {}).get("Message") or "")
    return str(exc)


class WorkshopError(Exception):
    """A problem with the workshop's set-up or input, explained in one line."""

    def __init__(self, message: str):
        # One line, always: newlines in wrapped messages would break the CLI contract.
        super().__init__(one_line(message))

    def _render_traceback_(self):  # IPython hook: show the sentence, not the stack
        return [f"{type(self).__name__}: {self}"]


class BackendError(WorkshopError):
    """The backend could not be chosen, reached or authenticated."""


class ClassError(WorkshopError):
    """A class on one endpoint cannot be set up as asked (options, environment, names)."""
