"""The encryption-context playground: edit key/value pairs, click Decrypt, see what KMS says.

The logic is a plain function, `try_decrypt(kms, blob, pairs)`, that returns a
`PlaygroundResult` (tested without a browser). `context_playground(kms, blob)` wraps it in
ipywidgets: real text fields and buttons, each with a description, so the whole
playground works from the keyboard (Tab between fields, Enter or Space on a button).
The outer box carries the CSS class `kms-context-playground` (`PLAYGROUND_CLASS`) so
browser tests can find it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

from ..display.expect import error_code, error_message
from ..display.masking import mask

PLAYGROUND_CLASS = "kms-context-playground"
RESULT_CLASS = "kms-context-result"


@dataclass
class PlaygroundResult:
    """What one Decrypt attempt did: `ok`, the error `code` and `message` if refused, the
    context that was sent, and `shown` (the plaintext masked, or described)."""

    ok: bool
    context: dict
    code: str | None = None
    message: str = ""
    shown: str = ""
    sent: bool = True  # False: the input was refused here, before any request to KMS

    def text(self) -> str:
        if not self.sent:
            return f"Nothing was sent to KMS: {self.message}"
        sent = ", ".join(f"{_shown(k)}={_shown(v)}" for k, v in self.context.items()) or "no encryption context"
        if self.ok:
            return f"Decrypted with {sent}: {self.shown}"
        detail = f": {self.message}" if self.message else ""
        return f"Refused with {sent}: {self.code}{detail}"

    def html(self) -> str:
        # The text takes the theme's own colour (readable in Light and Dark); the border says
        # which outcome it is, and so do the words "Decrypted" / "Refused".
        border = "var(--jp-success-color1, #047857)" if self.ok else "var(--jp-error-color1, #c62828)"
        return (
            f"<div class='{RESULT_CLASS}' role='status' style='border-left:6px solid {border};"
            f"padding:.3em .8em;color:var(--jp-content-font-color1, #111827)'>{escape(self.text())}</div>"
        )


def _shown(text: str) -> str:
    """`text` as typed, quoted when spaces at either end would otherwise be invisible."""
    return repr(text) if text != text.strip() or not text else text


def context_from_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The encryption context from (key, value) rows, exactly as typed: KMS matches the
    context byte for byte, so a space typed after a key is part of that key. Rows with an
    empty key and an empty value are ignored; a key that is empty or only spaces, or a key
    given twice, is a ValueError."""
    context: dict[str, str] = {}
    for key, value in pairs:
        key, value = key or "", value or ""
        if not key and not value:
            continue
        if not key.strip():
            raise ValueError(f"the value {value!r} has no key; type a key beside it, or clear the value.")
        if key in context:
            raise ValueError(f"the key {key!r} appears twice; keep one of the two pairs.")
        context[key] = value
    return context


def try_decrypt(kms, ciphertext_blob: bytes, pairs, *, describe=None) -> PlaygroundResult:
    """Ask KMS to decrypt `ciphertext_blob` with the context made of `pairs` (a dict or
    (key, value) rows). Never raises for a refusal: the result carries the error code.

    `describe(plaintext) -> str` says what to show on success; by default the plaintext
    is masked (it is usually a data key).
    """
    try:
        context = dict(pairs) if isinstance(pairs, dict) else context_from_pairs(pairs)
    except ValueError as exc:  # refused here: KMS was never asked
        return PlaygroundResult(False, {}, "InvalidInput", str(exc), sent=False)
    kwargs: dict[str, bytes | dict[str, str]] = {"CiphertextBlob": ciphertext_blob}
    if context:
        kwargs["EncryptionContext"] = context
    try:
        response = kms.decrypt(**kwargs)
    except Exception as exc:  # noqa: BLE001 - every refusal is a result here
        return PlaygroundResult(False, context, error_code(exc), error_message(exc))
    plaintext = response.pop("Plaintext")
    try:
        shown = describe(plaintext) if describe else f"{mask(plaintext)} ({len(plaintext)} bytes, masked)"
    finally:
        del plaintext
    return PlaygroundResult(True, context, shown=shown)


class ContextPlayground:
    """The widget and its state; `.widget` is what the notebook displays."""

    def __init__(self, kms, ciphertext_blob: bytes, pairs=(("project", "workshop"),), describe=None, max_rows: int = 4):
        # deferred: start-up (ipywidgets only in a kernel)
        import ipywidgets as w

        self._w = w
        self.kms, self.blob, self.describe = kms, ciphertext_blob, describe
        self.history: list[PlaygroundResult] = []
        self.max_rows = max_rows
        self.rows: list = []
        self.rows_box = w.VBox()
        self.add_button = w.Button(
            description="Add a pair", icon="plus", tooltip="Add an empty key/value pair to the encryption context"
        )
        self.decrypt_button = w.Button(
            description="Decrypt",
            button_style="primary",
            icon="unlock",
            tooltip="Send the ciphertext with this encryption context to KMS",
        )
        self.result = w.HTML(value="<div role='status'>Edit the context, then press Decrypt.</div>")
        self.result.add_class(RESULT_CLASS)
        self.add_button.on_click(lambda _b: self.add_row())
        self.decrypt_button.on_click(lambda _b: self.decrypt())
        for key, value in pairs:
            self.add_row(key, value)
        heading = w.HTML(
            "<strong>Encryption context playground</strong>: the ciphertext stays "
            "the same, only the context you send with it changes."
        )
        self.widget = w.VBox([heading, self.rows_box, w.HBox([self.add_button, self.decrypt_button]), self.result])
        self.widget.add_class(PLAYGROUND_CLASS)

    def add_row(self, key: str = "", value: str = "") -> None:
        w = self._w
        if len(self.rows) >= self.max_rows:
            return
        n = len(self.rows) + 1
        key_box = w.Text(value=key, description=f"Key {n}", placeholder="e.g. project", continuous_update=False)
        value_box = w.Text(value=value, description=f"Value {n}", placeholder="e.g. workshop", continuous_update=False)
        remove = w.Button(description=f"Remove pair {n}", tooltip=f"Remove key/value pair {n}")
        row = w.HBox([key_box, value_box, remove])
        row.add_class("kms-context-pair")
        remove.on_click(lambda _b, row=row: self.remove_row(row))
        self.rows.append(row)
        self.rows_box.children = tuple(self.rows)
        self.add_button.disabled = len(self.rows) >= self.max_rows

    def remove_row(self, row) -> None:
        if row in self.rows:
            self.rows.remove(row)
        self.rows_box.children = tuple(self.rows)
        self.add_button.disabled = len(self.rows) >= self.max_rows

    def pairs(self) -> list[tuple[str, str]]:
        return [(r.children[0].value, r.children[1].value) for r in self.rows]

    def decrypt(self) -> PlaygroundResult:
        outcome = try_decrypt(self.kms, self.blob, self.pairs(), describe=self.describe)
        self.history.append(outcome)
        self.result.value = outcome.html()
        return outcome

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if isinstance(bundle, tuple):
            bundle = bundle[0]
        bundle = dict(bundle or {})
        bundle["text/plain"] = repr(self)  # stable, unlike the widget tree's repr
        return bundle

    def __repr__(self) -> str:
        return "ContextPlayground(encryption context editor with a Decrypt button)"


def context_playground(
    kms, ciphertext_blob: bytes, pairs=(("project", "workshop"),), describe=None
) -> ContextPlayground:
    """An ipywidgets playground to try decrypting `ciphertext_blob` with various contexts."""
    return ContextPlayground(kms, ciphertext_blob, pairs, describe)
