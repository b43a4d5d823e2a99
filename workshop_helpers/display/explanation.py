"""An explanation in a few parts: a command, what it did, why (a list), and the fix.

Rendered as HTML, not printed, for a reason of accessibility: JupyterLab turns anything
in plain-text output that looks like a URL (``fileb://datakeyPlainText.txt``) into a link
styled only by colour, which fails the contrast rule for links inside text. In HTML the
command and the words in backticks are <code>, never links.
"""

from __future__ import annotations

import re

from ._html import esc

_BACKTICKS = re.compile(r"`([^`]+)`")


def _inline(text: str) -> str:
    """Escaped text with `backticked` parts as <code>."""
    parts = _BACKTICKS.split(text)
    return "".join(f"<code>{esc(p)}</code>" if i % 2 else esc(p) for i, p in enumerate(parts))


def explanation_html(command: str, summary: str, reasons: tuple[str, ...] | list[str], fix: str) -> str:
    items = "".join(f"<li>{_inline(reason)}</li>" for reason in reasons)
    return (
        "<div class='kw-explanation' style='color:var(--jp-content-font-color1, #111);"
        "line-height:1.45'>"
        f"<pre style='white-space:pre;overflow-x:auto;margin:0 0 .5em 0'><code>{esc(command)}</code></pre>"
        f"<p style='margin:.3em 0'>{_inline(summary)}</p>"
        f"<ul style='margin:.3em 0'>{items}</ul>"
        f"<p style='margin:.3em 0'><strong>The fix:</strong> {_inline(fix)}</p>"
        "</div>"
    )
