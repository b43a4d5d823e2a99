"""Masking secrets, the workshop's one rule for what may be shown of one, and the one way
to see a key whole.

`mask(secret)` shows the base64 form of a data key with only its first and last few
characters ("97**...**OOL"): enough to tell two keys apart, far too little to use one.
The same function masks a hex key for an openssl command line (`visible=1`) and an access
key id in the audit trail (`compact=True`: "AKIA…MNOP"). `reveal(secret, ws)` shows
everything, and only on the moto backend, where the keys are simulated and never leave
your machine.
"""

from __future__ import annotations

import base64

from ..errors import WorkshopError

VISIBLE = 4  # characters shown at each end
MIN_HIDDEN = 8  # below this many hidden characters, everything is hidden


def _as_base64(secret: bytes | bytearray | memoryview | str) -> str:
    if isinstance(secret, str):
        return secret
    return base64.b64encode(bytes(secret)).decode("ascii")


def mask(secret: bytes | bytearray | memoryview | str, visible: int = VISIBLE, *, compact: bool = False) -> str:
    """`secret` with all but `visible` characters at each end hidden.

    Bytes are base64-encoded first; a str (base64, hex, an access key id) is masked as it
    is. The hidden part is one '*' per character (the length stays visible), or one '…'
    with `compact`. Short secrets, where the ends would give too much away, are hidden
    entirely (compact: only their first `visible // 2` characters are shown).
    """
    text = _as_base64(secret)
    visible = max(0, int(visible))
    too_short = len(text) - 2 * visible < MIN_HIDDEN or len(text) < 3 * visible
    if compact:
        return text[: visible // 2] + "…" if too_short else f"{text[:visible]}…{text[-visible:] if visible else ''}"
    if too_short:
        return "*" * max(len(text), MIN_HIDDEN)
    return text[:visible] + "*" * (len(text) - 2 * visible) + text[-visible:]


def reveal(secret: bytes | bytearray | memoryview | str, ws) -> str:
    """The full base64 form of `secret`, only on the moto backend.

    Anywhere else (a shared endpoint, a real account) a revealed key could end up in a
    saved notebook, a screen share or a log: the helper refuses.
    """
    backend = getattr(ws, "backend", None)
    if backend != "moto":
        raise WorkshopError(
            f"reveal() works only on the moto backend (this is {backend!r}): a plaintext key "
            "from a real or shared backend must never be shown in full."
        )
    return _as_base64(secret)
