"""What every self-check returns: `CheckResult`, passed or not, with a message."""

from __future__ import annotations

from html import escape


class CheckResult:
    """Passed or not, with a message (a confirmation, or a hint)."""

    def __init__(self, passed: bool, message: str, exercise: str = ""):
        self.passed, self.message, self.exercise = bool(passed), message, exercise

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        mark = "Correct" if self.passed else "Not yet"
        return f"{mark}: {self.message}"

    __str__ = __repr__

    def _repr_html_(self) -> str:
        # Theme colours: the word carries the meaning, the border repeats it in a colour of
        # at least 3:1 on JupyterLab Light and Dark; the text is the theme's own text colour.
        border = "var(--jp-success-color1, #047857)" if self.passed else "var(--jp-error-color1, #c62828)"
        title = "Correct" if self.passed else "Not yet"
        return (
            f"<div class='kms-check' role='status' style='border-left:6px solid {border};"
            "padding:.3em .8em;color:var(--jp-content-font-color1, #111827)'>"
            f"<strong>{title}</strong>: {escape(self.message)}</div>"
        )


def passed(message: str) -> CheckResult:
    return CheckResult(True, message)


def hint(message: str) -> CheckResult:
    return CheckResult(False, message)
