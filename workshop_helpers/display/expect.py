"""`expect_error(...)`: a failure shown on purpose is an assertion.

    with expect_error("InvalidCiphertextException"):
        kms.decrypt(CiphertextBlob=blob)

renders the error readably (operation, code, message) and lets the notebook go on. If the
call succeeds, or fails with another error, the cell fails with an AssertionError, chained
to the original error when there is one: a lesson that says "this is refused" must never
silently show a success.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ..errors import aws_error_code, aws_error_message
from ._html import Rich, esc, esc_breakable, show


def error_code(exc: BaseException) -> str:
    """What `expect_error` matches: the AWS error code of a botocore ClientError, else a
    `.code` attribute (when it is a string), else the class name (KeyMismatchError)."""
    code = aws_error_code(exc) or getattr(exc, "code", None)
    return code if isinstance(code, str) and code else type(exc).__name__


error_message = aws_error_message


def _names(exc: BaseException) -> set[str]:
    found = {error_code(exc)}
    found.update(cls.__name__ for cls in type(exc).__mro__)
    code = getattr(exc, "code", None)
    if isinstance(code, str):
        found.add(code)
    return found


def matches(exc: BaseException, codes: tuple[str, ...]) -> bool:
    """Does `exc` carry one of `codes` (error code, `.code`, or a class name in its MRO)?"""
    return bool(_names(exc) & set(codes))


class CaughtError(Rich):
    """What `expect_error` caught: `.code`, `.message`, `.operation`, `.exception`."""

    def __init__(self, expected: tuple[str, ...]):
        self.expected = expected
        self.exception: BaseException | None = None
        self.code: str | None = None
        self.message: str = ""
        self.operation: str | None = None

    def _catch(self, exc: BaseException) -> None:
        self.exception = exc
        self.code = error_code(exc)
        self.message = error_message(exc)
        self.operation = getattr(exc, "operation_name", None)

    @property
    def caught(self) -> bool:
        return self.exception is not None

    def text(self) -> str:
        if not self.caught:
            return f"expecting {' or '.join(self.expected)}"
        where = f"{self.operation} -> " if self.operation else ""
        message = self.message or "(no message)"
        return f"Refused as expected: {where}{self.code}: {message}"

    def html(self) -> str:
        # `_catch` sets the exception and its code together: both present, or neither
        exception, code = self.exception, self.code
        if exception is None or code is None:
            return f"<p>{esc(self.text())}</p>"
        rows = []
        if self.operation:
            rows.append(("Operation", self.operation))
        rows.append(("Error code", code))
        silent = "(the service sent no message)" if aws_error_code(exception) else "(no message)"
        rows.append(("Message", self.message or silent))
        # Left-aligned (JupyterLab right-aligns table cells); the message wraps at its spaces,
        # and an ARN or id inside it only after a ':' or '/', never at its hyphens.
        body = "".join(
            f"<tr><th scope='row' style='text-align:left;vertical-align:top;padding-right:1em;"
            f"white-space:nowrap'>{esc(k)}</th>"
            f"<td style='text-align:left;vertical-align:top'><code style='word-break:normal;"
            f"overflow-wrap:normal'>{_wrapping(str(v))}</code></td></tr>"
            for k, v in rows
        )
        return (
            "<div class='kms-expected-error' role='note' aria-label='expected error' "
            "style='border-left:6px solid var(--jp-warn-color0, #b45309);"
            "background:rgba(245, 124, 0, 0.12);color:var(--jp-content-font-color1, #1f2937);"
            "padding:.5em 1em;margin:.3em 0;border-radius:4px'>"
            "<strong>Refused, as expected</strong>"
            f"<table style='margin-top:.3em'>{body}</table></div>"
        )


def _wrapping(text: str) -> str:
    """Escaped text that breaks at spaces, and inside long tokens only after ':' or '/'."""
    return " ".join(esc_breakable(word) if ("/" in word or ":" in word) else esc(word) for word in text.split(" "))


@contextlib.contextmanager
def expect_error(*codes: str, quiet: bool = False) -> Iterator[CaughtError]:
    """Expect the block to raise an error with one of `codes`; show it; else fail.

    Matching looks at a botocore ClientError's ``response["Error"]["Code"]``, then at a
    string ``.code`` attribute, then at the class names of the exception (so
    ``expect_error("EnvelopeError")`` matches its subclasses too). `quiet` skips the
    rendering (the caught error is still returned).
    """
    if not codes:
        raise ValueError("expect_error needs at least one error code")
    caught = CaughtError(tuple(codes))
    try:
        yield caught
    except Exception as exc:
        if not matches(exc, caught.expected):
            raise AssertionError(
                f"expected {' or '.join(codes)} but got {error_code(exc)}: {error_message(exc)}"
            ) from exc
        caught._catch(exc)
        if not quiet:
            show(caught)
        return
    raise AssertionError(f"expected {' or '.join(codes)} but the call succeeded")
