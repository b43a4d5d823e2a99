"""Ciphertext beside plaintext: hex dumps, byte histograms, a few numbers.

`byte_stats(data)` and `hexdump(data)` return plain data; `compare_bytes(plaintext,
ciphertext)` draws them side by side. Text uses a few dozen byte values, mostly printable
ones; good ciphertext looks like noise, spread over all 256 values.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

from ._html import VAR_CLASS, Rich, esc
from .svg import BRAND, TEXT

HALF_ROW = 8  # bytes per half row: the unit the dump wraps by on a narrow output area
# One half row, "0000  xx xx xx xx xx xx xx xx  |........|", is 41 characters wide.
HALF_ROW_CH = 41
# The dump is a wrapping row of half rows: two side by side (16 bytes a row) where there is
# room, one under the other (8 bytes a row) where there is not, as beside JupyterLab's
# file browser. Inline styles only, so it holds in untrusted outputs and in the book too.
DUMP_STYLE = (
    "display:flex;flex-wrap:wrap;column-gap:2ch;max-width:calc(84ch + .8em);"
    "font-family:var(--jp-code-font-family, monospace);font-size:11px;line-height:1.3;"
    "overflow-x:auto;background:var(--jp-layout-color2, #f3f4f6);"
    "color:var(--jp-content-font-color1, #111827);padding:.4em"
)
PRE_STYLE = f"margin:0;font:inherit;white-space:pre;overflow-wrap:normal;word-break:normal;flex:0 0 {HALF_ROW_CH}ch"
BUCKETS = 16  # histogram bars, 16 byte values each
_ids = itertools.count(1)


def byte_stats(data: bytes) -> dict:
    """Length, distinct values, printable share, Shannon entropy (bits per byte) and a
    16-bucket histogram of `data`."""
    data = bytes(data)
    counts = Counter(data)
    n = len(data)
    entropy = -sum(c / n * math.log2(c / n) for c in counts.values()) if n else 0.0
    printable = sum(c for b, c in counts.items() if 32 <= b < 127 or b in (9, 10, 13))
    histogram = [0] * BUCKETS
    for b, c in counts.items():
        histogram[b * BUCKETS // 256] += c
    return {
        "length": n,
        "distinct": len(counts),
        "printable_share": printable / n if n else 0.0,
        "entropy_bits_per_byte": entropy,
        "histogram": histogram,
    }


def hexdump(data: bytes, limit: int = 64, width: int = 16) -> list[str]:
    """Lines of "offset  hex bytes  |ascii|" for the first `limit` bytes."""
    data = bytes(data)
    lines = []
    for offset in range(0, min(len(data), limit), width):
        chunk = data[offset : min(offset + width, limit)]
        hexpart = " ".join(f"{b:02x}" for b in chunk).ljust(width * 3 - 1)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:04x}  {hexpart}  |{text}|")
    if len(data) > limit:
        lines.append(f"... {len(data) - limit} more bytes")
    return lines


def _histogram_svg(stats: dict, label: str, varies: bool) -> str:
    uid = f"kw-hist-{next(_ids)}"
    w, h, pad = 320, 130, 24
    peak = max(stats["histogram"]) or 1
    bar_w = (w - 2 * pad) / BUCKETS
    v = f'class="{VAR_CLASS}" ' if varies else ""
    bars = []
    for i, count in enumerate(stats["histogram"]):
        bh = (h - 2 * pad) * count / peak
        bars.append(
            f'<rect {v}x="{pad + i * bar_w + 1:.1f}" y="{h - pad - bh:.1f}" width="{bar_w - 2:.1f}" '
            f'height="{bh:.1f}" style="fill:{BRAND}"></rect>'
        )
    desc = (
        f"{label}: {stats['length']} bytes, {stats['distinct']} distinct values, "
        f"{stats['printable_share']:.0%} printable."
    )
    axis = (
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" style="stroke:{TEXT}"/>'
        f'<text x="{pad}" y="{h - 8}" font-size="10" style="fill:{TEXT}">0x00</text>'
        f'<text x="{w / 2}" y="{h - 8}" font-size="10" text-anchor="middle" style="fill:{TEXT}">0x80</text>'
        f'<text x="{w - pad}" y="{h - 8}" font-size="10" text-anchor="end" style="fill:{TEXT}">0xff</text>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
        f'role="img" aria-labelledby="{uid}-title {uid}-desc" font-family="system-ui, sans-serif">'
        f'<title id="{uid}-title">Byte histogram of the {esc(label.lower())}</title>'
        f'<desc {v}id="{uid}-desc">{esc(desc)}</desc>'
        f"{''.join(bars)}{axis}</svg>"
    )


class BytesView(Rich):
    """Two byte strings side by side."""

    def __init__(self, panels: list[tuple[str, bytes, bool]], limit: int):
        self.panels = panels  # (label, data, varies between runs)
        self.limit = limit

    def text(self) -> str:
        parts = []
        for label, data, _ in self.panels:
            s = byte_stats(data)
            parts.append(f"{label}: {s['length']} bytes")
        return "[bytes] " + "; ".join(parts)

    def html(self) -> str:
        cells = []
        for label, data, varies in self.panels:
            stats = byte_stats(data)
            pre_attr = f'class="{VAR_CLASS}" ' if varies else ""
            lines = hexdump(data, self.limit, width=HALF_ROW)
            more = lines.pop() if lines and lines[-1].startswith("...") else ""
            dump = "".join(f"<pre {pre_attr}style='{PRE_STYLE}'>{esc(line)}</pre>" for line in lines)
            if more:
                dump += f"<p style='margin:0;flex:1 0 100%'>{esc(more)}</p>"
            numbers = (
                f"{stats['length']} bytes · {stats['distinct']} distinct values · "
                f"{stats['printable_share']:.0%} printable · "
                f"{stats['entropy_bits_per_byte']:.2f} bits of entropy per byte"
            )
            numbers_html = f'<span class="{VAR_CLASS}">{esc(numbers)}</span>' if varies else esc(numbers)
            cells.append(
                "<div style='flex:1 1 480px;min-width:0'>"
                # a label, not a heading: it would break the notebook's heading order
                f"<div class='kms-bytes-label' style='font-weight:600;margin:.2em 0'>{esc(label)}</div>"
                # a half row is never broken: it wraps whole, to the next line; should even one
                # not fit, the dump scrolls, and the keyboard can focus it (tabindex) to scroll
                f"<div class='kms-hexdump' role='group' tabindex='0' aria-label='hex dump of {esc(label)}' "
                f"style='{DUMP_STYLE}'>{dump}</div>"
                f"{_histogram_svg(stats, label, varies)}"
                f"<p style='font-size:90%;margin:.2em 0'>{numbers_html}</p></div>"
            )
        return "<div class='kms-bytes-view' style='display:flex;gap:1.5em;flex-wrap:wrap'>" + "".join(cells) + "</div>"


def compare_bytes(
    plaintext: bytes, ciphertext: bytes, *, labels=("Plaintext", "Ciphertext"), limit: int = 64, varies=(False, True)
) -> BytesView:
    """Plaintext beside ciphertext: hex dumps of the first `limit` bytes, histograms and
    statistics. `varies` says which side changes from run to run (ciphertext does)."""
    return BytesView([(labels[0], bytes(plaintext), varies[0]), (labels[1], bytes(ciphertext), varies[1])], limit)
