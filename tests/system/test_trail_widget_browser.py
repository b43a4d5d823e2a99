"""The live trail widget of notebook 05 in real JupyterLab, driven from the keyboard alone:
Tab reaches every control in order, Space toggles the check boxes, Enter presses the
buttons, and the table and its status follow."""

from __future__ import annotations

import shutil

import pytest

pytestmark = pytest.mark.browser

NAME = "05-server-side-encryption.ipynb"


def test_trail_widget_follows_live_from_the_keyboard(tmp_path):
    from browser_support import (
        _PANEL_JS,
        CHROMIUM_ARGS,
        ROOT,
        LabServer,
        chromium_or_skip,
        open_notebook,
        panel_selector,
        run_all_cells,
    )
    from playwright.sync_api import sync_playwright

    chromium = chromium_or_skip()
    source = tmp_path / "src"
    source.mkdir()
    shutil.copy(ROOT / "notebooks" / NAME, source)
    server = LabServer(source, tmp_path / "lab").start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            assert open_notebook(page, server, NAME) == "ready"
            assert run_all_cells(page, NAME) == "done"
            panel = panel_selector(page, NAME)
            refresh = page.locator(f"{panel} button:has-text('Refresh')").first
            refresh.scroll_into_view_if_needed()
            refresh.focus()
            page.keyboard.press("Tab")  # to "Follow live"
            assert page.evaluate("document.activeElement.type") == "checkbox"
            page.keyboard.press("Space")
            follow = page.locator(f"{panel} .widget-checkbox input").first
            follow.wait_for(state="attached")
            page.wait_for_function("(el) => el.checked", arg=follow.element_handle(), timeout=5000)
            page.evaluate(
                "async (path) => {"
                + _PANEL_JS
                + """
                const kernel = findPanel(path).sessionContext.session.kernel;
                await kernel.requestExecute({code: "ws.client('kms').list_aliases()"}).done; }""",
                NAME,
            )
            table = page.locator(f"{panel} .widget-html").nth(1)
            page.wait_for_function(
                "(el) => el.innerText.includes('ListAliases')", arg=table.element_handle(), timeout=10000
            )
            assert "SIMULATED" in table.inner_text()  # the S3 calls above it, marked
            check_every_control_from_the_keyboard(page, panel, refresh)
            browser.close()
    finally:
        server.stop()


# What has the keyboard focus: "button:<its text>" or "checkbox:<its label>".
FOCUSED_JS = """() => {
  const el = document.activeElement;
  if (el.type === 'checkbox') return 'checkbox:' + ((el.closest('label') || {}).innerText || '').trim();
  return el.tagName.toLowerCase() + ':' + (el.innerText || '').trim();
}"""


def check_every_control_from_the_keyboard(page, panel, refresh):
    from browser_support import _PANEL_JS
    from playwright.sync_api import expect

    status = page.locator(f"{panel} span[role=status]", has_text="call(s) shown").first
    refresh.focus()
    order = [page.evaluate(FOCUSED_JS)]
    for _ in range(4):
        page.keyboard.press("Tab")
        order.append(page.evaluate(FOCUSED_JS))
    assert order == [
        "button:Refresh",
        "checkbox:Follow live",
        "checkbox:Only simulated",
        "checkbox:Only failures",
        "button:Start from now",
    ], f"Tab order through the trail widget: {order}"

    page.keyboard.press("Enter")  # Start from now
    expect(status).to_have_text("0 call(s) shown; following new calls.", timeout=10_000)
    page.evaluate(
        "async (path) => {"
        + _PANEL_JS
        + """
        const kernel = findPanel(path).sessionContext.session.kernel;
        await kernel.requestExecute({code: "ws.client('kms').list_aliases()"}).done; }""",
        NAME,
    )
    expect(status).to_have_text("1 call(s) shown; following new calls.", timeout=10_000)

    page.keyboard.press("Shift+Tab")
    assert page.evaluate(FOCUSED_JS) == "checkbox:Only failures"
    page.keyboard.press("Space")  # the one call succeeded: no failure to show
    expect(status).to_have_text("0 call(s) shown; following new calls.", timeout=10_000)
    page.keyboard.press("Space")
    expect(status).to_have_text("1 call(s) shown; following new calls.", timeout=10_000)
