"""Every notebook, opened in a real JupyterLab in headless Chromium and run from top to bottom.

One JupyterLab server (moto backend, isolated settings, a temporary copy of notebooks/) and
one Chromium for the module, one page per notebook. Module scope, not session: Playwright's
sync API cannot start while another sync_playwright() is running, so other browser tests
need this one stopped. For each notebook: the kernel starts without a
dialog, Run All runs every code cell, errors appear only in cells tagged raises-exception,
widgets render, SVG diagrams render with their <title>, and in 04-decrypt the
encryption-context playground really decrypts or refuses after an edit and a click, and
again from the keyboard alone. Then, in JupyterLab Light and Dark, axe-core finds no serious
or critical violation in the outputs and SVG text has enough contrast.
A screenshot of each notebook in each theme is saved in the test's tmp_path.

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
    DARK_THEME,
    LIGHT_THEME,
    SVG_COUNT_JS,
    LabServer,
    accessibility_problems,
    chromium_or_skip,
    format_accessibility_problems,
    has_svg_with_title,
    has_widgets,
    kernel_name,
    notebook_json,
    open_notebook,
    output_problems,
    panel_selector,
    run_all_cells,
    screenshot_notebook,
    set_theme,
    shutdown_kernel,
)

ROOT = Path(__file__).resolve().parents[2]
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
            check_playground_from_the_keyboard(page, panel)

        assert not page.page_errors, f"{name}: uncaught errors in the page: {page.page_errors}"
        check_accessibility(page, name)
    finally:
        for theme, path in (
            (LIGHT_THEME, screenshot),
            (DARK_THEME, screenshot.with_name(screenshot.stem + "-dark.png")),
        ):
            try:
                set_theme(page, theme)
                screenshot_notebook(page, name, path)
            except Exception:  # noqa: BLE001 - a screenshot must not hide the real failure
                pass
        try:
            set_theme(page, LIGHT_THEME)  # the theme is a user setting: the next page starts in Light
        except Exception:  # noqa: BLE001
            pass
        try:
            shutdown_kernel(page, name)
        except Exception:  # noqa: BLE001
            pass


# Outputs made to fail: grey text and grey SVG text that read on white but not on black,
# and a picture without a text alternative.
BAD_OUTPUTS = """
from IPython.display import HTML, display
display(HTML('<p style="color:#555">Not yet: grey on the page background</p>'
             '<svg width="220" height="30"><text x="4" y="20" fill="#555">grey svg label</text></svg>'
             '<svg role="img" width="10" height="10"><circle cx="5" cy="5" r="4"/></svg>'))
"""


def test_accessibility_check_finds_bad_outputs(lab, page):
    """The check in check_accessibility can fail: on outputs made to fail, it reports them,
    in the theme where they fail."""
    import nbformat

    name = "zz-accessibility-probe.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(BAD_OUTPUTS)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, lab.root / name)
    try:
        assert open_notebook(page, lab, name) == "ready"
        assert run_all_cells(page, name) == "done"
        page.locator(panel_selector(page, name) + " .jp-OutputArea-output svg").first.wait_for(state="attached")
        found = {}
        for theme in (LIGHT_THEME, DARK_THEME):
            set_theme(page, theme)
            violations, svg_text = accessibility_problems(page, name)
            found[theme] = ({v["rule"] for v in violations}, [p["text"] for p in svg_text])
        assert found[LIGHT_THEME] == ({"svg-img-alt"}, []), found
        assert found[DARK_THEME] == ({"svg-img-alt", "color-contrast"}, ["grey svg label"]), found
    finally:
        try:
            set_theme(page, LIGHT_THEME)  # the next page starts in Light
            shutdown_kernel(page, name)
        finally:
            (lab.root / name).unlink()


def check_accessibility(page, name):
    """After Run All, in JupyterLab Light and then Dark (the outputs restyle without running
    again): no serious or critical axe-core violation inside the notebook's outputs, and
    every SVG <text> there meets WCAG's contrast minimum (which axe does not check)."""
    reports = []
    for theme in (LIGHT_THEME, DARK_THEME):
        set_theme(page, theme)
        violations, svg_text = accessibility_problems(page, name)
        if violations or svg_text:
            reports.append(format_accessibility_problems(name, theme, violations, svg_text))
    assert not reports, "accessibility problems in the outputs:\n" + "\n".join(reports)


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


# What has the keyboard focus: "text:<its label>" for a text field, "button:<its text>".
FOCUSED_JS = """() => {
  const el = document.activeElement;
  if (!el) return '';
  if (el.tagName === 'INPUT' && el.type === 'text') {
    const label = el.closest('.widget-text') && el.closest('.widget-text').querySelector('label');
    return 'text:' + (label ? label.innerText.trim() : el.getAttribute('aria-label') || '');
  }
  return el.tagName.toLowerCase() + ':' + (el.innerText || el.getAttribute('aria-label') || '').trim();
}"""


def tab(page, times=1, back=False):
    for _ in range(times):
        page.keyboard.press("Shift+Tab" if back else "Tab")
    return page.evaluate(FOCUSED_JS)


def check_playground_from_the_keyboard(page, panel):
    """The playground from the keyboard alone: Tab reaches every control in reading order,
    typing edits a value, Enter and Space press the buttons, and the result follows."""
    playground = panel.locator(PLAYGROUND).first
    rows = playground.locator(".kms-context-pair")
    result = playground.locator(".kms-context-result").first
    value_field = rows.first.locator("input[type=text]").nth(1)
    right_value = value_field.input_value()

    rows.first.locator("input[type=text]").first.focus()  # the way in: the first field
    order = [page.evaluate(FOCUSED_JS)] + [tab(page) for _ in range(4)]
    assert order == ["text:Key 1", "text:Value 1", "button:Remove pair 1", "button:Add a pair", "button:Decrypt"], (
        f"Tab order through the playground: {order}"
    )

    assert tab(page, 3, back=True) == "text:Value 1"
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type(right_value + "-typed")
    assert tab(page, 3) == "button:Decrypt"  # leaving the field syncs its value
    page.keyboard.press("Enter")
    expect_text(result, re.compile(r"^\s*Refused with .*-typed.*InvalidCiphertextException", re.S))

    assert tab(page, 3, back=True) == "text:Value 1"
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type(right_value)
    assert tab(page, 3) == "button:Decrypt"
    page.keyboard.press("Space")
    expect_text(result, re.compile(r"^\s*Decrypted with ", re.S))

    assert tab(page, back=True) == "button:Add a pair"
    page.keyboard.press("Enter")
    from playwright.sync_api import expect

    expect(rows).to_have_count(2, timeout=10_000)
    assert tab(page, back=True) == "button:Remove pair 2", "Shift+Tab from Add a pair reaches the new row"
    page.keyboard.press("Space")
    expect(rows).to_have_count(1, timeout=10_000)


def expect_text(locator, pattern):
    from playwright.sync_api import expect

    expect(locator).to_have_text(pattern, timeout=15_000)
