"""Key/value and row tables, with secrets masked and blobs shortened.

`response_rows(response)` turns a KMS response into (field, shown value) pairs: the
plaintext key masked, binary blobs shortened to their first characters and length,
ResponseMetadata dropped. `response_table` and `table` render such data as HTML.
"""

from __future__ import annotations

import base64
import json

from ._html import Rich, esc, esc_breakable
from .masking import mask

SECRET_FIELDS = {"Plaintext"}  # never shown in full


def shorten_blob(blob: bytes | bytearray | memoryview, keep: int = 8) -> str:
    """The first `keep` base64 characters of `blob` and its length: "AQIDAHhk… (184 bytes)"."""
    text = base64.b64encode(bytes(blob)).decode("ascii")
    return f"{text[:keep]}… ({len(blob)} bytes)"


def shown_value(name: str, value) -> str:
    if name in SECRET_FIELDS and isinstance(value, (bytes, bytearray, memoryview, str)):
        return mask(value) + (f" ({len(value)} bytes, masked)" if not isinstance(value, str) else " (masked)")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return shorten_blob(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def response_rows(response: dict) -> list[tuple[str, str]]:
    """(field, value as shown) for a boto3 response, safe to display."""
    return [(k, shown_value(k, v)) for k, v in response.items() if k != "ResponseMetadata"]


class Table(Rich):
    """Rows of cells with a header; `caption` is announced by screen readers; `footnote` is
    a sentence shown under the table. The workshop's one HTML table: every module that
    shows rows uses it."""

    def __init__(
        self,
        rows: list[tuple],
        header: tuple | None = None,
        caption: str = "",
        notes: dict | None = None,
        footnote: str = "",
    ):
        self.rows = [tuple(str(c) for c in row) for row in rows]
        self.header = header
        self.caption = caption
        self.notes = notes or {}
        self.footnote = footnote

    def text(self) -> str:
        lines = [self.caption] if self.caption else []
        if self.header:
            lines.append(" | ".join(self.header))
        for row in self.rows:
            line = " | ".join(row)
            note = self.notes.get(row[0]) if row else None
            lines.append(f"{line}  ({note})" if note else line)
        if self.footnote:
            lines.append(self.footnote)
        return "\n".join(lines)

    def html(self) -> str:
        cap = f"<caption style='text-align:left;font-weight:600'>{esc(self.caption)}</caption>" if self.caption else ""
        head = ""
        if self.header:
            head = (
                "<thead><tr>"
                + "".join(f"<th style='text-align:left'>{esc(h)}</th>" for h in self.header)
                + "</tr></thead>"
            )
        body = []
        for row in self.rows:
            cells = [f"<th scope='row' style='text-align:left'>{esc(row[0])}</th>"] if row else []
            # ARNs break only after ':' or '/' (the <wbr>), never inside a word; other values
            # (masked keys, shortened blobs) stay whole, as tests/nbval-sanitize.cfg expects
            # (plain <code> for those, so a KeyMaterialId stays near its label for the
            # secret scanner)
            cells += [
                f"<td style='text-align:left'><code style='word-break:normal;overflow-wrap:normal'>"
                f"{esc_breakable(c)}</code></td>"
                if c.startswith("arn:")
                else f"<td style='text-align:left'><code>{esc(c)}</code></td>"
                for c in row[1:]
            ]
            if self.notes:
                cells.append(f"<td style='text-align:left'>{esc(self.notes.get(row[0], ''))}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        foot = f"<p><em>{esc(self.footnote)}</em></p>" if self.footnote else ""
        return f"<table class='kms-table'>{cap}{head}<tbody>{''.join(body)}</tbody></table>{foot}"


def table(rows, header=None, caption: str = "", notes: dict | None = None, footnote: str = "") -> Table:
    """A table of `rows` (tuples); a dict becomes (key, value) rows."""
    if isinstance(rows, dict):
        rows = list(rows.items())
    return Table(list(rows), header, caption, notes, footnote)


def response_table(response: dict, caption: str = "", notes: dict | None = None) -> Table:
    """A KMS response as a field/value table: Plaintext masked, blobs shortened. `notes`
    adds an explanation per field in a third column."""
    header = ("Field", "Value", "What it is") if notes else ("Field", "Value")
    return Table(response_rows(response), header, caption, notes)
