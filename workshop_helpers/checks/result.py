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
        color, border = ("#065f46", "#059669") if self.passed else ("#7c2d12", "#c2410c")
        title = "Correct" if self.passed else "Not yet"
        return (
            f"<div class='kms-check' role='status' style='border-left:6px solid {border};"
            f"padding:.3em .8em;color:{color}'><strong>{title}</strong>: {escape(self.message)}</div>"
        )


def passed(message: str) -> CheckResult:
    return CheckResult(True, message)


def hint(message: str) -> CheckResult:
    return CheckResult(False, message)
