"""Every notebook, opened in a real JupyterLab in headless Chromium and run from top to bottom.

One JupyterLab server (moto backend, isolated settings, a temporary copy of notebooks/) and
one Chromium for the module, one page per notebook. Module scope, not session: Playwright's
sync API cannot start while another sync_playwright() is running, so other browser tests
need this one stopped. For each notebook: the kernel starts without a
dialog, Run All runs every code cell, errors appear only in cells tagged raises-exception,
widgets render, SVG diagrams render with their <title>, and in 04-decrypt the
encryption-context playground really decrypts or refuses after an edit and a click.
A screenshot of each notebook is saved in the test's tmp_path.

Needs a Chromium (tests/ensure_browser.py finds or installs one): without it these tests
fail when CI=true and skip otherwise, saying how to get one.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from browser_support import (
    CHROMIUM_ARGS,
    SVG_COUNT_JS,
    LabServer,
    chromium_or_skip,
    has_svg_with_title,
    has_widgets,
    kernel_name,
    notebook_json,
    open_notebook,
    output_problems,
    panel_selector,
    run_all_cells,
    screenshot_notebook,
    shutdown_kernel,
)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = Path(os.environ.get("KMS_WORKSHOP_BROWSER_NOTEBOOKS") or ROOT / "notebooks")
# notebooks/*.ipynb only: the solutions in notebooks/solutions/ are not part of the run.
NOTEBOOKS = sorted(p.name for p in NOTEBOOKS_DIR.glob("*.ipynb"))

PLAYGROUND_NOTEBOOK = "04-decrypt.ipynb"
PLAYGROUND = ".kms-context-playground"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium_path():
    return chromium_or_skip()


@pytest.fixture(scope="module")
def lab(chromium_path, tmp_path_factory):
    server = LabServer(NOTEBOOKS_DIR, tmp_path_factory.mktemp("lab")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def browser_context(browser):
    # One context for all pages: JupyterLab's static files are fetched once and cached.
    # Each page still gets its own JupyterLab workspace (see open_notebook).
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    yield context
    context.close()


@pytest.fixture
def page(browser_context):
    page = browser_context.new_page()
    page.set_default_timeout(30_000)
    page.page_errors = []
    page.on("pageerror", lambda exc: page.page_errors.append(str(exc)))
    yield page
    page.close()


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_in_jupyterlab(lab, page, name, tmp_path):
    screenshot = tmp_path / (Path(name).stem + ".png")
    try:
        state = open_notebook(page, lab, name)
        assert state == "ready", f"{name}: the kernel did not start cleanly ({state})"
        assert kernel_name(page, name) == "python3"
        panel = page.locator(panel_selector(page, name))
        assert page.locator(".jp-NotebookPanel").count() == 1, f"{name}: other notebooks were reopened"

        outcome = run_all_cells(page, name)
        assert outcome == "done", f"{name}: Run All did not finish in time"
        dialogs = page.locator(".jp-Dialog")
        assert dialogs.count() == 0, f"{name}: a dialog opened: {dialogs.first.inner_text()}"

        nb = notebook_json(page, name)
        problems = output_problems(nb)
        assert not problems, f"{name}:\n" + "\n".join(problems)

        if has_widgets(nb):
            check_widgets_render(panel, name)
        if has_svg_with_title(nb):
            check_svg_diagrams(page, name)
        if name == PLAYGROUND_NOTEBOOK:
            check_playground(panel)

        assert not page.page_errors, f"{name}: uncaught errors in the page: {page.page_errors}"
    finally:
        try:
            screenshot_notebook(page, name, screenshot)
        except Exception:  # noqa: BLE001 - a screenshot must not hide the real failure
            pass
        try:
            shutdown_kernel(page, name)
        except Exception:  # noqa: BLE001
            pass


def check_widgets_render(panel, name):
    widgets = panel.locator(".jp-OutputArea-output .jupyter-widgets")
    widgets.first.wait_for(state="visible")
    text = panel.inner_text()
    for bad in ("Error displaying widget", "Loading widget..."):
        assert bad not in text, f"{name}: a widget did not render ({bad!r})"


def check_svg_diagrams(page, name):
    page.wait_for_function(
        "() => (" + SVG_COUNT_JS + ")().inline + (" + SVG_COUNT_JS + ")().images > 0", timeout=10_000
    )
    counts = page.evaluate(SVG_COUNT_JS)
    assert counts["inline"] + counts["images"] > 0, f"{name}: no SVG diagram with a <title> is visible"
    assert all(counts["titles"]), f"{name}: an SVG diagram has an empty <title>"


def check_playground(panel):
    """Edit the encryption context wrongly: decryption is refused; restore it: it succeeds.

    DOM from workshop_helpers/widgets/context_playground.py: the box .kms-context-playground holds rows
    .kms-context-pair of (key text field, value text field, remove button), a Decrypt
    button and the result .kms-context-result (an HTML widget)."""
    playground = panel.locator(PLAYGROUND).first
    playground.wait_for(state="visible")
    playground.scroll_into_view_if_needed()
    value_field = playground.locator(".kms-context-pair").first.locator("input[type=text]").nth(1)
    button = playground.locator("button", has_text=re.compile(r"\bDecrypt\b"))
    result = playground.locator(".kms-context-result").first

    right_value = value_field.input_value()
    assert right_value, "the playground's first pair starts with the value the data was encrypted with"

    value_field.fill(right_value + "-tampered")
    value_field.press("Enter")  # continuous_update=False: the value syncs on Enter or blur
    button.click()
    expect_text(result, re.compile(r"^\s*Refused with .*-tampered.*InvalidCiphertextException", re.S))

    value_field.fill(right_value)
    value_field.press("Enter")
    button.click()
    expect_text(result, re.compile(r"^\s*Decrypted with ", re.S))


def expect_text(locator, pattern):
    from playwright.sync_api import expect

    expect(locator).to_have_text(pattern, timeout=15_000)
