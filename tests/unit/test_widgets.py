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
    assert context_from_pairs([("project", "workshop"), ("", ""), ("team", "blue")]) == {
        "project": "workshop",
        "team": "blue",
    }
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


@pytest.mark.parametrize(
    "pairs",
    [
        [],
        [("project", "Workshop")],
        [("project", "workshop"), ("team", "blue")],
        {"project": "other"},
    ],
)
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


# --- the live trail widget (notebook 05) ---------------------------------------------------


def test_trail_widget_shows_the_calls_made_before_it(setup):
    """Made after some calls, it shows them at once: no Refresh needed."""
    from workshop_helpers.widgets import TrailWidget

    kms, _, _ = setup
    kms.list_aliases()
    widget = TrailWidget()
    try:
        assert "ListAliases" in widget.table.value and "GenerateDataKey" in widget.table.value
        assert "'status'>0 call(s)" not in widget.status.value
        # not following: a later call appears on display, or with Refresh
        before = widget.refresh()
        kms.list_keys()
        assert "ListKeys" not in widget.table.value
        widget._repr_mimebundle_()
        assert "ListKeys" in widget.table.value
        assert widget.refresh() >= min(before + 1, widget.last)
        widget.refresh_button.click()
        assert "ListKeys" in widget.table.value
        # "Start from now" hides what came before
        widget.reset_button.click()
        assert widget.refresh() == 0
        kms.list_aliases()
        widget.refresh_button.click()
        assert widget.refresh() == 1 and "ListAliases" in widget.table.value
    finally:
        widget.close()


def test_trail_widget_shows_only_the_last_calls():
    from workshop_helpers import audit
    from workshop_helpers.widgets import TrailWidget

    widget = TrailWidget(last=3)
    try:
        matching = len(audit.records())
        shown = widget.refresh()
        assert shown == min(3, matching)
        if matching > 3:
            assert f"the last 3 of {matching}" in widget.status.value
    finally:
        widget.close()


def test_trail_widget_controls_are_labelled_and_focusable():
    import ipywidgets as w

    from workshop_helpers.widgets import TrailWidget

    widget = TrailWidget()
    try:
        controls = [
            widget.refresh_button,
            widget.follow_box,
            widget.simulated_box,
            widget.failures_box,
            widget.reset_button,
        ]
        for control in controls:
            assert isinstance(control, (w.Button, w.Checkbox))  # native button / checkbox: Tab, Enter, Space
            assert control.description and control.tooltip
        assert "role='status'" in widget.status.value
    finally:
        widget.close()


def test_playground_result_reads_in_light_and_dark():
    # Dark green/red text was unreadable on JupyterLab Dark: the text takes the theme's
    # colour; only the border (a theme variable too) marks the outcome.
    import re

    from workshop_helpers.widgets.context_playground import PlaygroundResult

    for result in (
        PlaygroundResult(True, {"k": "v"}, shown="x"),
        PlaygroundResult(False, {}, "InvalidCiphertextException"),
    ):
        html = result.html()
        assert "color:var(--jp-content-font-color1" in html
        assert not re.search(r"(?<![,(] )#[0-9a-fA-F]{3,6}\b(?![^(]*\))", html), html
