"""workshop_helpers.widgets: the encryption-context playground's logic, without a browser."""

from __future__ import annotations

import base64
import uuid

import pytest

from workshop_helpers import fixtures
from workshop_helpers.widgets.context_playground import (
    PLAYGROUND_CLASS,
    PlaygroundResult,
    context_from_pairs,
    context_playground,
    try_decrypt,
)


@pytest.fixture
def setup(moto_workshop, monkeypatch):
    monkeypatch.setenv("KMS_WORKSHOP_PARTICIPANT", "wg" + uuid.uuid4().hex[:6])
    key = fixtures.ensure_imported_cmk(moto_workshop)
    kms = moto_workshop.client("kms")
    out = kms.generate_data_key(KeyId=key.alias, KeySpec="AES_256", EncryptionContext={"project": "workshop"})
    return kms, out["CiphertextBlob"], out["Plaintext"]


def test_context_from_pairs():
    assert context_from_pairs([("project", "workshop"), ("", ""), (" team ", "blue")]) == {
        "project": "workshop", "team": "blue"}
    assert context_from_pairs([]) == {}
    with pytest.raises(ValueError, match="no key"):
        context_from_pairs([("", "orphan")])
    with pytest.raises(ValueError, match="twice"):
        context_from_pairs([("a", "1"), ("a", "2")])


def test_right_context_decrypts_and_masks(setup):
    kms, blob, plaintext = setup
    result = try_decrypt(kms, blob, [("project", "workshop")])
    assert result.ok and result.code is None
    assert base64.b64encode(plaintext).decode() not in result.text() + result.html()
    assert "masked" in result.shown and result.text().startswith("Decrypted with project=workshop")


@pytest.mark.parametrize("pairs", [
    [],
    [("project", "Workshop")],
    [("project", "workshop"), ("team", "blue")],
    {"project": "other"},
])
def test_wrong_contexts_are_refused(setup, pairs):
    kms, blob, _ = setup
    result = try_decrypt(kms, blob, pairs)
    assert not result.ok and result.code == "InvalidCiphertextException"
    assert "Refused" in result.text() and "kms-context-result" in result.html()


def test_bad_input_is_a_result_not_an_exception(setup):
    kms, blob, _ = setup
    result = try_decrypt(kms, blob, [("", "value")])
    assert not result.ok and result.code == "InvalidInput"
    garbage = try_decrypt(kms, b"not a ciphertext", [("project", "workshop")])
    assert not garbage.ok and garbage.code


def test_describe_controls_what_is_shown(setup):
    kms, blob, _ = setup
    result = try_decrypt(kms, blob, {"project": "workshop"}, describe=lambda p: f"{len(p)} bytes")
    assert result.shown == "32 bytes"


def test_widget_drives_the_same_logic(setup):
    kms, blob, _ = setup
    playground = context_playground(kms, blob)
    assert PLAYGROUND_CLASS in playground.widget._dom_classes
    assert playground.pairs() == [("project", "workshop")]
    assert playground.decrypt().ok
    assert "Decrypted" in playground.result.value
    # edit the value through the text field, as a user would
    playground.rows[0].children[1].value = "nope"
    assert not playground.decrypt().ok
    assert "InvalidCiphertextException" in playground.result.value
    # add and remove pairs with the buttons
    playground.add_button.click()
    assert len(playground.rows) == 2
    playground.rows[1].children[2].click()
    assert len(playground.rows) == 1
    playground.decrypt_button.click()
    assert len(playground.history) == 3


def test_widget_is_keyboard_usable(setup):
    import ipywidgets as w

    kms, blob, _ = setup
    playground = context_playground(kms, blob)
    controls = [playground.add_button, playground.decrypt_button]
    for row in playground.rows:
        controls += list(row.children)
    for control in controls:
        assert isinstance(control, (w.Button, w.Text))  # focusable, Enter/Space to activate
        assert control.description  # a label screen readers announce
    for _ in range(10):
        playground.add_row()
    assert len(playground.rows) == playground.max_rows and playground.add_button.disabled


def test_widget_text_repr_is_stable(setup):
    kms, blob, _ = setup
    bundle = context_playground(kms, blob)._repr_mimebundle_()
    assert bundle["text/plain"] == "ContextPlayground(encryption context editor with a Decrypt button)"
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_result_rendering():
    ok = PlaygroundResult(True, {"a": "b"}, shown="x")
    bad = PlaygroundResult(False, {}, "InvalidCiphertextException", "")
    assert ok.text() == "Decrypted with a=b: x"
    assert bad.text() == "Refused with no encryption context: InvalidCiphertextException"
    assert "<" not in PlaygroundResult(False, {"<b>": "x"}, "C", "<i>").html().split(">", 1)[1].split("</div>")[0]
