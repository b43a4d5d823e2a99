"""The audit trail as a table: `show_trail(...)` in a notebook, `trail_table(...)` for the object.

One row per KMS call, oldest first: when, which operation, which key (as the caller named
it, as CloudTrail logs it), the encryption context, other parameters, who called (you,
the AWS Encryption SDK, or a simulated AWS service), and the outcome. Simulated calls are
marked with a word, not only a colour, and so are failures.

Values that change from run to run (times, key ids, volume and instance ids, the SDK's
public key) are wrapped in ``class="kw-var"`` elements in the HTML (see `_html`), so stored
notebook outputs stay comparable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .. import audit
from ._html import VAR_CLASS, Rich, esc, esc_breakable, show, var_span

# Values that differ between runs: UUIDs, EC2 ids, grant ids, long base64, ISO times.
_VARYING = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|\b(?:vol|i|ami|snap)-[0-9a-f]{8,17}\b"
    r"|[A-Za-z0-9+/]{24,}={0,2}"
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
)

# Parameters shown in the "details" column, in this order (CloudTrail's names).
_DETAIL_KEYS = (
    "keySpec",
    "numberOfBytes",
    "encryptionAlgorithm",
    "granteePrincipal",
    "retiringPrincipal",
    "operations",
    "constraints",
    "aliasName",
    "targetKeyId",
    "origin",
    "keyUsage",
    "description",
    "pendingWindowInDays",
    "wrappingAlgorithm",
    "wrappingKeySpec",
    "expirationModel",
    "destinationKeyId",
    "sourceEncryptionContext",
    "destinationEncryptionContext",
)

COLUMNS = ("time", "event", "key", "encryption context", "details", "caller", "result")
HTML_COLUMNS = ("time", "call (by whom, result)", "key", "encryption context", "details")


def _key_of(record: dict) -> str:
    params = record.get("requestParameters") or {}
    key = params.get("keyId") or params.get("targetKeyId")
    if key:
        return str(key)
    for resource in record.get("resources") or []:
        arn = resource.get("ARN", "")
        if ":key/" in arn:
            return "key/" + arn.rsplit("/", 1)[-1]
    return ""


def _short_key(key: str) -> str:
    """arn:aws:kms:region:acct:key/UUID -> key/UUID; aliases stay as they are."""
    if key.startswith("arn:aws:kms:") and ":key/" in key:
        return "key/" + key.rsplit("/", 1)[-1]
    if key.startswith("arn:aws:kms:") and ":alias/" in key:
        return "alias/" + key.split(":alias/", 1)[1]
    return key


def _context_of(record: dict) -> dict:
    params = record.get("requestParameters") or {}
    context = params.get("encryptionContext")
    if context is None:
        context = ((params.get("constraints") or {}).get("encryptionContextSubset")) or None
    return dict(context or {})


def _details_of(record: dict) -> list[tuple[str, str]]:
    params = record.get("requestParameters") or {}
    out = []
    for name in _DETAIL_KEYS:
        if name in params and name != "constraints":
            value = params[name]
            if isinstance(value, list):
                value = ",".join(str(v) for v in value)
            elif isinstance(value, dict):
                value = ", ".join(f"{k}={v}" for k, v in value.items())
            out.append((name, str(value)))
    if "constraints" in params and params.get("constraints", {}).get("encryptionContextEquals"):
        eq = params["constraints"]["encryptionContextEquals"]
        out.append(("contextEquals", ", ".join(f"{k}={v}" for k, v in eq.items())))
    return out


def _result_of(record: dict) -> str:
    if "errorCode" in record:
        return f"FAILED {record['errorCode']}"
    return "OK"


_LONG_TOKEN = 24  # characters: longer unbreakable values are shortened, or the table outgrows the page


def _time_html(value: str) -> str:
    """The time of day (the date is the same all workshop long); the whole timestamp in a tooltip."""
    shown = value[11:] if len(value) >= 19 and value[10:11] == "T" else value
    return f'<span class="{VAR_CLASS}" title="{esc(value)}">{esc(shown)}</span>'


def _html_value(text: str) -> str:
    """Escape `text`, wrapping the parts that vary between runs in kw-var spans."""
    out, last = [], 0
    for match in _VARYING.finditer(text):
        out.append(esc_breakable(text[last : match.start()]))
        token = match.group(0)
        if len(token) > _LONG_TOKEN and "-" not in token:
            # a long base64 value (the signed suite's public key): its ends, the whole in a tooltip
            out.append(f'<span class="{VAR_CLASS}" title="{esc(token)}">{esc(token[:10])}…{esc(token[-6:])}</span>')
        else:
            out.append(var_span(token))
        last = match.end()
    out.append(esc_breakable(text[last:]))
    return "".join(out)


# Inline, so that the notebook front end's own table styles (right-aligned cells) never win.
_CELL = "text-align:left;vertical-align:top;"

_STYLE = (
    "<style>"
    # Theme variables, so the table reads in JupyterLab Light and Dark; tints, not colours,
    # mark simulated and failed rows (the words SIMULATED and FAILED carry the meaning).
    ".kw-trail{border-collapse:collapse;font-size:0.85em;margin:0.3em 0;"
    "color:var(--jp-content-font-color1, #111827)}"
    ".kw-trail th,.kw-trail td{border:1px solid var(--jp-border-color1, #bbbbbb);padding:2px 6px;"
    "text-align:left;vertical-align:top}"
    ".kw-trail th{background:var(--jp-layout-color2, #eeeeff)}"
    ".kw-trail tr.kw-sim td{background:rgba(255, 193, 7, 0.14)}"
    ".kw-trail tr.kw-fail td{background:rgba(244, 67, 54, 0.14)}"
    # ARNs break only at the <wbr> after ':' and '/', never mid-word
    ".kw-trail code{white-space:normal;word-break:normal;overflow-wrap:normal;"
    "color:var(--jp-content-font-color1, #111827);background:none}"
    ".kw-trail td.kw-nowrap{white-space:nowrap}"
    "</style>"
)


class TrailTable(Rich):
    """A table of trail records: HTML in notebooks, aligned text elsewhere."""

    def __init__(self, records: Iterable[dict], title: str | None = None):
        self.records = list(records)
        self.title = title

    def rows(self) -> list[dict[str, object]]:
        """The table's content as plain data (tests read this)."""
        rows = []
        for record in self.records:
            rows.append(
                {
                    "time": record.get("eventTime", ""),
                    "event": record.get("eventName", ""),
                    "key": _short_key(_key_of(record)),
                    "encryption context": _context_of(record),
                    "details": _details_of(record),
                    "caller": audit.caller_label(record),
                    "result": _result_of(record),
                    "simulated": bool(record.get("simulated")),
                    "failed": "errorCode" in record,
                    "errorMessage": record.get("errorMessage", ""),
                }
            )
        return rows

    def html(self) -> str:
        caption = esc(self.title) if self.title else "KMS calls recorded in this kernel"
        if not self.records:
            return f"<p role='status'><strong>{caption}:</strong> no KMS call recorded.</p>"
        # Five columns, not seven: the call cell also says who made it and how it ended, so
        # the table fits a notebook's width beside JupyterLab's side panel.
        head = "".join(f"<th scope='col' style='{_CELL}'>{esc(c)}</th>" for c in HTML_COLUMNS)
        body = []
        for row in self.rows():
            classes = " ".join(c for c, on in (("kw-sim", row["simulated"]), ("kw-fail", row["failed"])) if on)
            pairs, detail_pairs = row["encryption context"], row["details"]
            assert isinstance(pairs, dict) and isinstance(detail_pairs, list)  # what `rows` puts there
            context = (
                "<br>".join(f"<code>{esc(k)}</code>=<code>{_html_value(str(v))}</code>" for k, v in pairs.items())
                or "<span aria-label='none'>–</span>"
            )
            details = "<br>".join(f"{esc(k)}: <code>{_html_value(v)}</code>" for k, v in detail_pairs) or "–"
            caller = "by " + esc(row["caller"])
            if row["simulated"]:
                caller = "by <strong>SIMULATED</strong> " + esc(str(row["caller"]).replace(" (simulated)", ""))
            result = esc(row["result"])
            if row["failed"]:
                message = row["errorMessage"]
                result = f"<strong>{result}</strong>" + (f"<br><small>{esc(message)}</small>" if message else "")
            call = f"<strong>{esc(row['event'])}</strong><br><small>{caller}</small><br>{result}"
            cells = [
                _time_html(str(row["time"])),
                call,
                f"<code>{_html_value(str(row['key']))}</code>" if row["key"] else "–",
                context,
                details,
            ]
            tds = "".join(
                f"<td style='{_CELL}{'white-space:nowrap;' if i == 0 else ''}'>{c}</td>" for i, c in enumerate(cells)
            )
            body.append(f"<tr class='{classes}'>{tds}</tr>")
        # A wide table scrolls inside its own region, which takes the keyboard focus, so the
        # columns out of view are reachable without a mouse (axe: scrollable-region-focusable).
        return (
            _STYLE
            + f"<div class='kw-trail-scroll' role='region' aria-label='{caption}' tabindex='0' "
            + "style='overflow-x:auto;max-width:100%'>"
            + f"<table class='kw-trail' aria-label='{caption}'><caption style='text-align:left'>"
            + f"<strong>{caption}</strong> ({len(self.records)} call{'s' if len(self.records) != 1 else ''})"
            + f"</caption><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        )

    def text(self) -> str:
        caption = self.title or "KMS calls recorded in this kernel"
        if not self.records:
            return f"{caption}: no KMS call recorded."
        lines = [f"{caption} ({len(self.records)} call{'s' if len(self.records) != 1 else ''}):"]
        for row in self.rows():
            pairs, detail_pairs = row["encryption context"], row["details"]
            assert isinstance(pairs, dict) and isinstance(detail_pairs, list)  # what `rows` puts there
            context = ", ".join(f"{k}={v}" for k, v in pairs.items()) or "-"
            details = "; ".join(f"{k}: {v}" for k, v in detail_pairs)
            parts = [
                f"{row['event']:<32}",
                f"key={row['key'] or '-'}",
                f"context={{{context}}}",
            ]
            if details:
                parts.append(details)
            parts.append(f"by {row['caller']}")
            parts.append(str(row["result"]))
            lines.append("  " + " | ".join(parts))
        return "\n".join(lines)


def trail_table(records: Iterable[dict] | None = None, *, title: str | None = None, **filters) -> TrailTable:
    """A TrailTable of `records`, or of `audit.records(**filters)` when none are given."""
    if records is None:
        records = audit.records(**filters)
    return TrailTable(records, title=title)


def show_trail(records: Iterable[dict] | None = None, *, title: str | None = None, **filters) -> None:
    """Show the trail (or `records`) as a table. Filters as in `ws.trail(...)`:
    ``since=mark``, ``event_name=...``, ``simulated=True``, ``errors_only=True``, ``last=N``."""
    show(trail_table(records, title=title, **filters))


__all__ = [
    "TrailTable",
    "show_trail",
    "trail_table",
]
