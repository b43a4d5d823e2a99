"""Small shared pieces for the display modules: escaping, the "varies" marker, showing.

Anything a display draws that changes from run to run (ciphertext bytes, their
histogram, random key ids) is wrapped in an element whose first attribute is
``class="kw-var"``. tests/nbval-sanitize.cfg replaces such elements, so the stored
notebook outputs stay comparable while everything deterministic is still checked.
"""

from __future__ import annotations

import re
from html import escape

VAR_CLASS = "kw-var"


def esc(value) -> str:
    return escape(str(value), quote=True)


_PARTS = re.compile(r"([:/])")


def esc_breakable(value) -> str:
    """Escaped text that wraps only after a ':' or a '/' (an ARN between its parts): each part
    is kept whole (no break at its hyphens), with a <wbr> after each separator."""
    out = []
    for part in _PARTS.split(str(value)):
        if part in (":", "/"):
            out.append(part + "<wbr>")
        elif part:
            out.append(f"<span style='white-space:nowrap'>{esc(part)}</span>")
    return "".join(out)


def var_span(text: str) -> str:
    """Inline text that varies between runs."""
    return f'<span class="{VAR_CLASS}">{esc(text)}</span>'


def in_ipython() -> bool:
    try:
        # deferred: start-up (IPython only in a kernel)
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ != "TerminalInteractiveShell"


def show(obj) -> None:
    """Display `obj` in a notebook, print its text form elsewhere."""
    if in_ipython():
        # deferred: start-up (IPython only in a kernel)
        from IPython.display import display

        display(obj)
    else:
        print(str(obj))


class Rich:
    """Base for display objects: HTML in notebooks, a stable text form everywhere else.

    Subclasses implement `html()` and `text()`. `__repr__` is the text form, so the
    text/plain output stored in notebooks never contains a memory address.
    """

    def html(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def text(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def _repr_html_(self) -> str:
        return self.html()

    def __repr__(self) -> str:
        return self.text()

    def __str__(self) -> str:
        return self.text()
