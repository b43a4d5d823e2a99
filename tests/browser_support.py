"""JupyterLab in headless Chromium, for tests/system/test_browser.py.

`LabServer` runs one JupyterLab on 127.0.0.1 with its own config, data, runtime, settings
and workspaces directories and a temporary copy of the notebooks (autosave never touches
the committed ones). `open_notebook`, `run_all_cells` and `notebook_json` drive one page.
What was learned getting this to work is in ../shared/reference/browser-and-binder.md.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from ensure_browser import MISSING_MESSAGE, find_chromium

ROOT = Path(__file__).resolve().parent.parent

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

LIGHT_THEME, DARK_THEME = "JupyterLab Light", "JupyterLab Dark"

# JupyterLab user settings: no news toast, no kernel-selection dialog, every cell rendered.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "autoStartDefaultKernel": True,
        "windowingMode": "none",
    },
    "@jupyterlab/apputils-extension/themes.jupyterlab-settings": {"theme": LIGHT_THEME},
}

SERVER_START_TIMEOUT = 60
KERNEL_READY_TIMEOUT = 60_000  # ms
RUN_ALL_TIMEOUT = 120_000  # ms


def chromium_or_skip() -> str:
    """The Chromium to drive; without one, fail when CI=true, else skip."""
    path = find_chromium()
    if path:
        return path
    if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
        pytest.fail(MISSING_MESSAGE, pytrace=False)
    pytest.skip(MISSING_MESSAGE)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def private_jupyter_dirs(root: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """Jupyter's config, data, runtime, settings and workspaces folders under `root` (made
    here), and the environment that points Jupyter at them: never the user's own."""
    dirs = {name: root / name for name in ("config", "data", "runtime", "settings", "workspaces")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    env = {
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_DATA_DIR": str(dirs["data"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
        "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    return dirs, env


class LabServer:
    """One JupyterLab server over a temporary copy of `notebooks`.

    `user_settings` are written to its JUPYTERLAB_SETTINGS_DIR (default: LAB_SETTINGS);
    `extra_args` are appended to the `jupyter lab` command line."""

    def __init__(
        self, notebooks: Path, workdir: Path, *, user_settings: dict | None = None, extra_args: tuple[str, ...] = ()
    ):
        self.user_settings = LAB_SETTINGS if user_settings is None else user_settings
        self.extra_args = tuple(extra_args)
        self.workdir = Path(workdir)
        self.root = self.workdir / "notebooks"
        shutil.copytree(notebooks, self.root, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "workshop-data"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.workdir / "jupyterlab.log"
        self.proc: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BINDER_", "KMS_WORKSHOP_", "JUPYTER"))}
        env["KMS_WORKSHOP_STATE_DIR"] = "memory"  # never the user's own account
        dirs, jupyter_env = private_jupyter_dirs(self.workdir / "jupyter")
        for rel, values in self.user_settings.items():
            path = dirs["settings"] / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values, indent=2))
        env.update(
            jupyter_env,
            KMS_WORKSHOP_BACKEND="moto",
            PYTHONUNBUFFERED="1",
        )
        return env

    def command(self) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.root}",
            "--IdentityProvider.token=",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        return cmd + list(self.extra_args)

    def start(self) -> LabServer:
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            self.command(), cwd=self.root, env=self.env(), stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/api/status", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"JupyterLab did not answer within {SERVER_START_TIMEOUT} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM (JupyterLab shuts its kernels down), then SIGKILL if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def get_json(self, path: str):
        with urllib.request.urlopen(self.url + path, timeout=10) as resp:
            return json.load(resp)

    def kernels(self) -> list[dict]:
        return self.get_json("/api/kernels")


# --- one page ---------------------------------------------------------------------------

# Finds the notebook panel for `path` among JupyterLab's main-area widgets.
_PANEL_JS = """
const findPanel = (path) => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return null;
  for (const w of Array.from(app.shell.widgets('main'))) {
    if (w.context && w.context.path === path && w.content && w.sessionContext) return w;
  }
  return null;
};
"""


def open_notebook(page, server: LabServer, name: str) -> str:
    """Open `name` and wait until its kernel is idle. Returns "ready" or the text of a dialog.

    Each notebook gets its own JupyterLab workspace, so a page never reopens (and restarts
    the kernels of) the notebooks that earlier pages opened."""
    workspace = "t-" + "".join(c if c.isalnum() else "-" for c in name)
    page.goto(f"{server.url}/lab/workspaces/{workspace}/tree/{name}", wait_until="domcontentloaded")
    handle = page.wait_for_function(
        "(path) => {"
        + _PANEL_JS
        + """
          const dialog = document.querySelector('.jp-Dialog');
          if (dialog) return 'dialog: ' + dialog.innerText.replace(/\\s+/g, ' ').trim();
          const panel = findPanel(path);
          if (!panel) return false;
          const ctx = panel.sessionContext;
          const kernel = ctx.session && ctx.session.kernel;
          if (ctx.isReady && kernel && kernel.status === 'idle' && panel.content.widgets.length) return 'ready';
          return false;
        }""",
        arg=name,
        timeout=KERNEL_READY_TIMEOUT,
        polling=100,
    )
    return handle.json_value()


def panel_selector(page, name: str) -> str:
    """A CSS selector for the notebook's panel in the page."""
    return "#" + page.evaluate("(path) => {" + _PANEL_JS + "return findPanel(path).id; }", name)


def screenshot_notebook(page, name: str, path) -> None:
    """A screenshot of the whole notebook: the viewport is made as tall as the notebook
    (JupyterLab scrolls inside its panel, so a full-page screenshot would cut it off)."""
    height = page.evaluate(
        "(path) => {"
        + _PANEL_JS
        + """
          const panel = findPanel(path);
          const scroller = panel && panel.node.querySelector('.jp-WindowedPanel-outer');
          return scroller ? scroller.scrollHeight : 0;
        }""",
        name,
    )
    size = page.viewport_size
    if height and size:
        page.set_viewport_size({"width": size["width"], "height": min(max(size["height"], height + 200), 16000)})
        page.evaluate(
            "(path) => {"
            + _PANEL_JS
            + """
              const scroller = findPanel(path).node.querySelector('.jp-WindowedPanel-outer');
              scroller.scrollTop = 0;
            }""",
            name,
        )
        page.wait_for_timeout(300)  # let JupyterLab lay out again
    page.screenshot(path=str(path))
    if size:
        page.set_viewport_size(size)


def kernel_name(page, name: str) -> str:
    return page.evaluate(
        "(path) => {" + _PANEL_JS + "return findPanel(path).sessionContext.session.kernel.name; }", name
    )


def run_all_cells(page, name: str, timeout_ms: int = RUN_ALL_TIMEOUT) -> str:
    """notebook:run-all-cells; resolves when every cell has finished (or raised)."""
    return page.evaluate(
        "async ([path, timeout]) => {"
        + _PANEL_JS
        + """
          const panel = findPanel(path);
          window.jupyterapp.shell.activateById(panel.id);
          const run = window.jupyterapp.commands.execute('notebook:run-all-cells').then(() => 'done');
          const limit = new Promise((r) => setTimeout(() => r('timeout'), timeout));
          return await Promise.race([run, limit]);
        }""",
        [name, timeout_ms],
    )


def notebook_json(page, name: str) -> dict:
    """The notebook as JupyterLab holds it now (nbformat JSON, with the new outputs)."""
    return page.evaluate("(path) => {" + _PANEL_JS + "return findPanel(path).context.model.toJSON(); }", name)


def shutdown_kernel(page, name: str) -> None:
    page.evaluate(
        "async (path) => {"
        + _PANEL_JS
        + """
          const panel = findPanel(path);
          if (panel && panel.sessionContext.session) await panel.sessionContext.shutdown();
        }""",
        name,
    )


def source_of(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def output_problems(nb: dict) -> list[str]:
    """Code cells that did not run, and error outputs outside cells tagged raises-exception."""
    problems = []
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code" or not source_of(cell).strip():
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        first_line = source_of(cell).strip().splitlines()[0][:70]
        if cell.get("execution_count") is None:
            problems.append(f"cell {index} did not run: {first_line!r}")
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" and "raises-exception" not in tags:
                problems.append(f"cell {index} raised {out.get('ename')}: {out.get('evalue')} ({first_line!r})")
            if (
                out.get("output_type") == "stream"
                and out.get("name") == "stderr"
                and "Traceback (most recent call last)" in "".join(out.get("text", ""))
            ):
                problems.append(f"cell {index} printed a traceback on stderr ({first_line!r})")
    return problems


def has_mime(nb: dict, predicate) -> bool:
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            for mime, data in (out.get("data") or {}).items():
                text = "".join(data) if isinstance(data, list) else data
                if predicate(mime, text):
                    return True
    return False


WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def has_widgets(nb: dict) -> bool:
    return has_mime(nb, lambda mime, _: mime == WIDGET_MIME)


def has_svg_with_title(nb: dict) -> bool:
    def svg(mime, text):
        if mime == "image/svg+xml":
            return "<title" in str(text)
        if mime == "text/html" and isinstance(text, str):
            return "<svg" in text and "<title" in text
        return False

    return has_mime(nb, svg)


# Counts what the page shows: inline <svg> with a <title>, and SVG images (JupyterLab renders
# image/svg+xml outputs as <img src="data:image/svg+xml,...">) that loaded and carry a title.
SVG_COUNT_JS = """
() => {
  const visible = (el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const inline = Array.from(document.querySelectorAll('.jp-OutputArea-output svg'))
    .filter((svg) => svg.querySelector(':scope > title') && visible(svg));
  const images = Array.from(document.querySelectorAll('.jp-OutputArea-output img'))
    .filter((img) => (img.src || '').startsWith('data:image/svg+xml')
      && decodeURIComponent(img.src).includes('<title') && img.complete && img.naturalWidth > 0 && visible(img));
  return {
    inline: inline.length,
    images: images.length,
    titles: inline.map((svg) => svg.querySelector(':scope > title').textContent.trim()),
  };
}
"""


# --- accessibility ------------------------------------------------------------------------

AXE_IMPACTS = ("serious", "critical")


def set_theme(page, theme: str) -> None:
    """Switch JupyterLab's theme (apputils:change-theme, which also writes the user setting)
    and wait until its CSS is applied. Outputs already rendered restyle through CSS alone,
    so the notebook need not run again."""
    page.evaluate("(theme) => window.jupyterapp.commands.execute('apputils:change-theme', {theme})", theme)
    page.wait_for_function(
        """(theme) => document.body.dataset.jpThemeName === theme
             && getComputedStyle(document.body).getPropertyValue('--jp-layout-color0').trim() !== ''""",
        arg=theme,
        timeout=15_000,
    )
    page.wait_for_timeout(300)  # let the new stylesheet reach every element


def _in_view_steps(page, name: str):
    """Make the viewport as tall as the notebook (up to 16000 px) and yield once per
    scroll position until the whole notebook has been in view: axe and the SVG text check
    judge only what is inside the viewport."""
    scroller_js = "(path) => {" + _PANEL_JS + "return findPanel(path).node.querySelector('.jp-WindowedPanel-outer'); }"
    height = page.evaluate("(path) => (" + scroller_js + ")(path).scrollHeight", name)
    size = page.viewport_size
    view = min(max(size["height"], height + 200), 16000)
    page.set_viewport_size({"width": size["width"], "height": view})
    try:
        top = 0
        while True:
            page.evaluate("([path, top]) => { (" + scroller_js + ")(path).scrollTop = top; }", [name, top])
            page.wait_for_timeout(200)
            yield
            if top + view - 200 >= height:
                break
            top += view - 400  # overlap, so no output is cut at both ends
    finally:
        page.set_viewport_size(size)


def _axe_violations(response: dict, impacts) -> list[dict]:
    found = []
    for rule in response["violations"]:
        if rule.get("impact") not in impacts:
            continue
        for node in rule["nodes"]:
            found.append(
                {
                    "rule": rule["id"],
                    "impact": rule["impact"],
                    "target": " ".join(map(str, node["target"])),
                    "html": node.get("html", "")[:200],
                    "why": (node.get("failureSummary") or "").replace("\n", " ")[:300],
                }
            )
    return found


def accessibility_problems(page, name: str, impacts=AXE_IMPACTS) -> tuple[list[dict], list[dict]]:
    """What is wrong in the notebook's output areas (JupyterLab's own chrome is not the
    workshop's to fix), in the theme shown now: axe-core's violations of `impacts`, one per
    (rule, element), and SVG <text> below WCAG's contrast minimum (axe does not check it)."""
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    panel = panel_selector(page, name)
    violations: dict[tuple, dict] = {}
    svg_text: dict[tuple, dict] = {}
    # JupyterLab's <body> has overflow: hidden around absolutely placed panels, which makes
    # axe take all text for clipped and skip colour-contrast; visible while axe runs.
    page.evaluate(
        "() => { document.body.dataset.axeOverflow = document.body.style.overflow;"
        " document.body.style.overflow = 'visible'; }"
    )
    try:
        for _ in _in_view_steps(page, name):
            for v in _axe_violations(axe.run(page, context=panel + " .jp-OutputArea-output").response, impacts):
                violations.setdefault((v["rule"], v["target"]), v)
            for problem in page.evaluate(SVG_TEXT_CONTRAST_JS.strip(), page.locator(panel).element_handle()):
                svg_text.setdefault((problem["text"], problem["fill"]), problem)
    finally:
        page.evaluate("() => { document.body.style.overflow = document.body.dataset.axeOverflow; }")
    cells = page.evaluate(
        """(targets) => targets.map((t) => { const el = document.querySelector(t);
             const cell = el && el.closest('[data-windowed-list-index]');
             return cell ? cell.dataset.windowedListIndex : '?'; })""",
        [v["target"] for v in violations.values()],
    )
    for v, cell in zip(violations.values(), cells):
        v["cell"] = cell
    return list(violations.values()), list(svg_text.values())


# axe-core does not check the contrast of SVG <text>. This does, as WCAG 2 measures it
# (4.5:1, or 3:1 for text of 24 px, or 18.66 px bold): the text's fill against what is
# painted under the middle of it (SVG shapes, then HTML backgrounds, blended by opacity).
SVG_TEXT_CONTRAST_JS = r"""
(root) => {
  const parse = (c) => { const m = (c || '').match(/rgba?\(([^)]+)\)/); if (!m) return null;
    const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const over = (top, bottom) => top.slice(0, 3).map((v, i) => v * top[3] + bottom[i] * (1 - top[3])).concat(1);
  const lum = (c) => { const [r, g, b] = c.slice(0, 3).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const paint = (el) => {
    const cs = getComputedStyle(el), shape = el instanceof SVGElement && el.localName !== 'svg';
    const alpha = Number(cs.opacity) * (shape ? Number(cs.fillOpacity) : 1);
    const c = parse(shape ? cs.fill : cs.backgroundColor);
    if (!c || c[3] === 0 || alpha === 0) return null;
    c[3] *= alpha; return c;
  };
  const problems = [];
  for (const text of root.querySelectorAll('.jp-OutputArea-output svg text')) {
    const box = text.getBoundingClientRect();
    if (!box.width || !box.height || !text.textContent.trim()) continue;
    const fg = paint(text); if (!fg) continue;
    const x = box.left + box.width / 2, y = box.top + box.height / 2;
    if (y < 0 || y >= innerHeight || x < 0 || x >= innerWidth) continue;
    const stack = document.elementsFromPoint(x, y);
    const below = stack.slice(stack.indexOf(text) + 1).filter((el) => !text.contains(el)
      && !['text', 'tspan', 'line', 'polyline', 'g', 'title', 'desc'].includes(el.localName));
    let bg = [255, 255, 255, 1];
    for (const el of below.reverse()) { const c = paint(el); if (c) bg = over(c, bg); }
    const cs = getComputedStyle(text), size = parseFloat(cs.fontSize), bold = Number(cs.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    const got = ratio(over(fg, bg), bg);
    const cell = text.closest('[data-windowed-list-index]');
    if (got < need) problems.push({text: text.textContent.trim().slice(0, 60), ratio: Math.round(got * 100) / 100,
      cell: cell ? cell.dataset.windowedListIndex : '?',
      need, fill: cs.fill, background: 'rgb(' + bg.slice(0, 3).map(Math.round).join(', ') + ')'});
  }
  return problems;
}
"""


def format_accessibility_problems(name: str, theme: str, violations: list[dict], svg_text: list[dict]) -> str:
    lines = [f"{name} in {theme}:"]
    for v in violations:
        lines.append(f"  cell {v['cell']}: axe {v['rule']} ({v['impact']}) at {v['target']}: {v['html']}")
        if v["why"]:
            lines.append(f"      {v['why']}")
    for p in svg_text:
        lines.append(
            f"  cell {p['cell']}: svg-text-contrast: {p['text']!r} {p['fill']} on {p['background']}: "
            f"{p['ratio']}:1, needs {p['need']}:1"
        )
    return "\n".join(lines)
