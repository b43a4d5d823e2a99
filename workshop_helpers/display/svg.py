"""SVG diagrams of envelope encryption and of direct encryption.

`envelope_diagram(highlight=...)` draws the KMS key, the data key, the encrypted data key,
the plaintext and the ciphertext, and highlights one step: "generate", "encrypt",
"store" or "decrypt". `direct_diagram()` draws encryption under the KMS key itself.
Every SVG has a <title> and a <desc> (referenced by aria-labelledby), so a screen reader
announces what the picture shows.
"""

from __future__ import annotations

import itertools

from ._html import Rich, esc

STEPS = ("generate", "encrypt", "store", "decrypt")

STEP_TEXT = {
    None: "A data key encrypts the data; the KMS key encrypts the data key.",
    "generate": "Step 1, GenerateDataKey: KMS returns the data key twice, in plaintext and "
    "encrypted under the KMS key.",
    "encrypt": "Step 2: the plaintext data key encrypts the data outside KMS (AES-256-GCM).",
    "store": "Step 3: the encrypted data key is stored with the ciphertext; the plaintext data key is discarded.",
    "decrypt": "Step 4, Decrypt: KMS decrypts the encrypted data key, which then decrypts the ciphertext outside KMS.",
}

_ids = itertools.count(1)

# Colours come from JupyterLab's theme variables, so a diagram reads in Light and Dark alike;
# the fallbacks are for viewers without them (GitHub, nbviewer). All text uses the content
# colour (the theme's full-contrast text); meaning is carried by stroke width, a tinted fill
# and the words, with strokes in colours of at least 3:1 against both themes' backgrounds.
TEXT = "var(--jp-content-font-color1, #111827)"
HI = "var(--jp-warn-color0, #c2410c)"  # highlight: orange 900 on Light, orange 700 on Dark
LO = "var(--jp-content-font-color2, #6b7280)"  # everything else
FILL_HI = "rgba(245, 124, 0, 0.16)"  # a tint that works over white and over #111
FILL_LO = "rgba(127, 127, 127, 0.08)"
BRAND = "var(--jp-brand-color1, #4338ca)"  # the AWS KMS boundary
FILL_BRAND = "rgba(33, 150, 243, 0.08)"
HALO = "var(--jp-layout-color0, #ffffff)"  # behind labels that sit on a line


def fill(color: str) -> str:
    return f'style="fill:{color}"'


def stroke(color: str, width: float = 1.5, fill_color: str = "none", dash: str = "") -> str:
    dashed = f";stroke-dasharray:{dash}" if dash else ""
    return f'style="fill:{fill_color};stroke:{color};stroke-width:{width}{dashed}"'


def label(x, y, text, size=11, weight=400, anchor="middle", halo=False) -> str:
    """A text in the theme's text colour; `halo` paints the background colour behind it."""
    extra = f";stroke:{HALO};stroke-width:4;paint-order:stroke" if halo else ""
    return (
        f'<text x="{x}" y="{y}" text-anchor="{anchor}" font-size="{size}" font-weight="{weight}" '
        f'style="fill:{TEXT}{extra}">{esc(text)}</text>'
    )


def boundary(x, y, w, h, title, note="", title_x=None, anchor="middle") -> str:
    """A dashed service boundary (AWS KMS, EBS, the EC2 host) with its title inside, at the top."""
    tx = x + w / 2 if title_x is None else title_x
    out = (
        f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="12" '
        f"{stroke(BRAND, 1.5, FILL_BRAND, '8 4') if title == 'AWS KMS' else stroke(LO, 1.2)}/>"
        + label(tx, y + 22, title, 13, 700, anchor)
    )
    if note:
        out += label(x + w / 2, y + h - 12, note)
    return out


class Diagram(Rich):
    """An SVG picture; `.svg` holds the markup."""

    def __init__(self, svg: str, title: str, desc: str):
        self.svg, self.title, self.desc = svg, title, desc

    def _repr_svg_(self) -> str:
        return self.svg

    def html(self) -> str:
        return (
            f"<figure class='kms-diagram' style='margin:.5em 0'>{self.svg}"
            f"<figcaption style='font-size:90%;color:var(--jp-content-font-color1, #1f2937)'>"
            f"{esc(self.desc)}</figcaption></figure>"
        )

    def text(self) -> str:
        return f"[diagram] {self.title}: {self.desc}"


def _box(x, y, w, h, text, sub="", hot=False, crossed=False) -> str:
    color, tint = (HI, FILL_HI) if hot else (LO, FILL_LO)
    parts = [
        f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="8" {stroke(color, 3 if hot else 1.5, tint)}/>',
        label(x + w / 2, y + (h / 2 - 4 if sub else h / 2 + 5), text, 14, 600),
    ]
    if sub:
        parts.append(label(x + w / 2, y + h / 2 + 14, sub))
    if crossed:
        parts.append(
            f'<line x1="{x + 6}" y1="{y + 6}" x2="{x + w - 6}" y2="{y + h - 6}" {stroke(HI, 3)}/>'
            f'<line x1="{x + w - 6}" y1="{y + 6}" x2="{x + 6}" y2="{y + h - 6}" {stroke(HI, 3)}/>'
        )
    return "".join(parts)


def _arrow(x1, y1, x2, y2, hot=False, text="", dashed=False, marker="a", lx=None, ly=None) -> str:
    """A line with an arrow head; `text` sits at (lx, ly), by default just above the middle."""
    out = (
        f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" '
        f"{stroke(HI if hot else LO, 3 if hot else 1.5, dash='6 4' if dashed else '')} "
        f'marker-end="url(#{marker}-{"hi" if hot else "lo"})"/>'
    )
    if text:
        x = (x1 + x2) / 2 if lx is None else lx
        y = (y1 + y2) / 2 - 6 if ly is None else ly
        out += label(x, y, text, weight=700 if hot else 400, halo=True)
    return out


def _markers(prefix: str) -> str:
    return "".join(
        f'<marker id="{prefix}-{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" {fill(color)}/></marker>'
        for name, color in (("hi", HI), ("lo", LO))
    )


def _svg(width: int, height: int, title: str, desc: str, body: str, uid: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-labelledby="{uid}-title {uid}-desc" '
        f'font-family="system-ui, sans-serif" style="max-width:100%;height:auto">'
        f'<title id="{uid}-title">{esc(title)}</title><desc id="{uid}-desc">{esc(desc)}</desc>'
        f"<defs>{_markers(uid)}</defs>{body}</svg>"
    )


def envelope_diagram(highlight: str | None = None) -> Diagram:
    """The envelope, with step `highlight` (one of STEPS, or None) drawn in orange."""
    if highlight not in (None, *STEPS):
        raise ValueError(f"highlight must be one of {', '.join(STEPS)} or None, not {highlight!r}")
    uid = f"kw-envelope-{highlight or 'all'}-{next(_ids)}"
    h = highlight
    hot = {
        "kms": h in ("generate", "decrypt"),
        "dk": h in ("generate", "encrypt", "decrypt"),
        "edk": h in ("generate", "store", "decrypt"),
        "pt": h in ("encrypt", "decrypt"),
        "ct": h in ("encrypt", "store", "decrypt"),
        "group": h == "store",
    }
    body = [
        # AWS KMS boundary
        boundary(10, 30, 190, 260, "AWS KMS", "the KMS key never leaves"),
        _box(30, 130, 150, 60, "KMS key", "alias/ImportedCMK", hot["kms"]),
        # stored together
        f'<rect x="240" y="208" width="430" height="82" rx="10" '
        f"{stroke(HI if hot['group'] else LO, 3 if hot['group'] else 1.2, dash='4 3')}/>",
        label(455, 304, "stored together (the envelope)", weight=700 if hot["group"] else 400),
        _box(250, 40, 170, 56, "Data key", "plaintext, in memory only", hot["dk"], crossed=h == "store"),
        _box(250, 222, 170, 56, "Encrypted data key", "CiphertextBlob", hot["edk"]),
        _box(490, 40, 170, 56, "Plaintext data", "samplesecret.txt", hot["pt"]),
        _box(490, 222, 170, 56, "Ciphertext", "AES-256-GCM", hot["ct"]),
    ]
    if h == "decrypt":
        body += [
            _arrow(250, 250, 182, 180, True, "Decrypt", dashed=True, marker=uid, lx=243, ly=203),
            _arrow(
                182, 140, 250, 75, True, "plaintext key", marker=uid, lx=264, ly=126
            ),  # label clear of the KMS border
            _arrow(575, 222, 575, 98, True, "", marker=uid),
            _arrow(430, 80, 545, 210, True, "decrypts", marker=uid),  # onto the ciphertext it opens
        ]
    else:
        body += [
            _arrow(182, 145, 248, 80, hot["dk"] and h == "generate", "GenerateDataKey", marker=uid, lx=272, ly=128),
            _arrow(182, 175, 248, 240, hot["edk"] and h == "generate", "", marker=uid),
            _arrow(575, 98, 575, 220, h == "encrypt", "", marker=uid),
            _arrow(430, 80, 545, 210, h == "encrypt", "encrypts", marker=uid),  # onto the ciphertext it makes
        ]
    if h == "store":
        body.append(label(335, 115, "discarded after use", weight=700))
    title = "Envelope encryption" + (f": {h}" if h else "")
    desc = STEP_TEXT[h]
    return Diagram(_svg(690, 314, title, desc, "".join(body), uid), title, desc)


DIRECT_TEXT = {
    None: "Encrypt sends up to 4096 bytes of plaintext to KMS, which encrypts them under the KMS "
    "key; Decrypt sends the ciphertext blob back, with the same encryption context.",
    "encrypt": "Encrypt: the plaintext (at most 4096 bytes) and the encryption context go to KMS, "
    "which encrypts the plaintext under the KMS key and returns a ciphertext blob bound to that "
    "context.",
    "decrypt": "Decrypt: the ciphertext blob and the same encryption context go back to KMS, which "
    "decrypts the blob under the KMS key it names and returns the plaintext.",
}


def direct_diagram(highlight: str | None = None) -> Diagram:
    """Direct encryption: up to 4096 bytes go to KMS, which encrypts them under the KMS key.
    `highlight` may be "encrypt" or "decrypt"."""
    if highlight not in (None, "encrypt", "decrypt"):
        raise ValueError("highlight must be 'encrypt', 'decrypt' or None")
    uid = f"kw-direct-{highlight or 'all'}-{next(_ids)}"
    enc, dec = highlight == "encrypt", highlight == "decrypt"
    body = [
        _box(10, 110, 170, 60, "Plaintext", "at most 4096 bytes", enc or dec),
        boundary(250, 40, 200, 200, "AWS KMS", "the data itself goes to KMS"),
        _box(275, 110, 150, 60, "KMS key", "alias/ImportedCMK", enc or dec),
        _box(520, 110, 170, 60, "Ciphertext blob", "(context bound, not kept)", enc or dec),
    ]
    # Labels sit in the gaps between the boxes and the KMS boundary, never on a border.
    if dec:
        body += [
            _arrow(518, 150, 427, 150, True, "Decrypt", marker=uid, lx=485, ly=142),
            _arrow(273, 150, 182, 150, True, "plaintext", marker=uid, lx=216, ly=142),
        ]
    else:
        body += [
            _arrow(182, 140, 273, 140, enc, "Encrypt", marker=uid, lx=216, ly=132),
            _arrow(427, 140, 518, 140, enc, "blob", marker=uid, lx=485, ly=132),
        ]
    title = "Direct encryption with a KMS key" + (f": {highlight}" if highlight else "")
    desc = DIRECT_TEXT[highlight]
    return Diagram(_svg(700, 260, title, desc, "".join(body), uid), title, desc)


LIFECYCLE_STATES = ("PendingImport", "Enabled", "Disabled", "PendingDeletion", "Deleted")


def key_lifecycle_diagram(current: str | None = None) -> Diagram:
    """The states of a KMS key with imported material, with `current` highlighted."""
    if current not in (None, *LIFECYCLE_STATES):
        raise ValueError(f"current must be one of {', '.join(LIFECYCLE_STATES)} or None")
    uid = f"kw-lifecycle-{current or 'all'}-{next(_ids)}"
    pos = {
        "PendingImport": (10, 40),
        "Enabled": (320, 40),
        "Disabled": (320, 180),
        "PendingDeletion": (600, 110),
        "Deleted": (850, 110),
    }
    subs = {
        "PendingImport": "no key material yet",
        "Enabled": "encrypts and decrypts",
        "Disabled": "unusable, reversible",
        "PendingDeletion": "7 to 30 days, unusable",
        "Deleted": "its ciphertexts unreadable",
    }
    w, h = 170, 56
    body = [_box(x, y, w, h, s, subs[s], s == current) for s, (x, y) in pos.items()]

    def mid(state, side):
        x, y = pos[state]
        return {"r": (x + w, y + h / 2), "l": (x, y + h / 2), "b": (x + w / 2, y + h), "t": (x + w / 2, y)}[side]

    def arrow(a, sa, b, sb, label, lx=None, ly=None):
        (x1, y1), (x2, y2) = mid(a, sa), mid(b, sb)
        return _arrow(x1, y1, x2 - (2 if x2 > x1 else 0), y2, False, label, marker=uid, lx=lx, ly=ly)

    body += [
        # every label beside its line, in a gap, never across a line or a box's border
        arrow("PendingImport", "r", "Enabled", "l", "ImportKeyMaterial", ly=60),
        _arrow(385, 96, 385, 178, False, "", marker=uid),
        _arrow(425, 178, 425, 98, False, "", marker=uid),
        label(433, 142, "disable / enable", anchor="start"),
        arrow("Enabled", "r", "PendingDeletion", "t", "ScheduleKeyDeletion", lx=640, ly=70),
        arrow("PendingDeletion", "b", "Disabled", "r", "CancelKeyDeletion", lx=590, ly=222),
        arrow("PendingDeletion", "r", "Deleted", "l", "window ends", ly=130),
    ]
    title = "Life cycle of a KMS key" + (f": now {current}" if current else "")
    desc = (
        "A key with imported material starts PendingImport, becomes Enabled once its material "
        "is imported, can be disabled and enabled again, and once scheduled for deletion waits "
        "7 to 30 days (PendingDeletion) before it is deleted; until then the deletion can be "
        "cancelled, which leaves the key Disabled." + (f" The key is now {current}." if current else "")
    )
    return Diagram(_svg(1030, 250, title, desc, "".join(body), uid), title, desc)
