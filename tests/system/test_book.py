"""The workshop as a static book (`make book`): built once per session, then read as a
visitor and a link checker would.

The site is built by `make book` into a temporary folder (Jupyter Book 1 from its own venv,
.venv-book/, made by tests/ensure_book.py when missing). The checks: notebooks/manifest.yml
agrees with the notebooks; one page per manifest notebook, in order, with its header box,
its run links and its exercises framed; every internal link and anchor resolves and every
external one is well formed (nothing is fetched); the first use of each glossary term on a
notebook page links to the glossary; no solution text and no secret anywhere in the site;
a broken reference fails the build. The `browser` tests open three pages in headless
Chromium and run axe-core in the Light and Dark themes. The Pages workflow is parsed, not run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import ensure_book
import nbformat
import pytest
import yaml
from bs4 import BeautifulSoup

from workshop_helpers import secret_scan

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
MANIFEST = yaml.safe_load((NOTEBOOKS / "manifest.yml").read_text())["notebooks"]
CONFIG = yaml.safe_load((ROOT / "book" / "_config.yml").read_text())
GLOSSARY = yaml.safe_load((ROOT / "book" / "glossary.yml").read_text())["terms"]
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"
BUILD_TIMEOUT = 600
# Text of prose only: what the glossary links may be made in (book/workshop_book.py skips the same).
NOT_PROSE = ("h1", "h2", "h3", "h4", "h5", "h6", "code", "pre", "script", "style", "svg")
NOT_PROSE_CLASSES = ("cell_output", "cell_input", "workshop-overview", "workshop-run", "admonition-title")
BINARY_SUFFIXES = {".png", ".jpg", ".gif", ".ico", ".woff", ".woff2", ".ttf", ".eot", ".map"}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def book_python_or_skip() -> str:
    """The book venv's Python (made if missing); without it, fail when CI=true, else skip."""
    try:
        return ensure_book.ensure()
    except RuntimeError as exc:
        (pytest.fail if in_ci() else pytest.skip)(f"{exc}; {ensure_book.MISSING_MESSAGE}")


def without_network() -> list[str]:
    """A command prefix that runs its command with no network but loopback (a network
    namespace of its own), where this machine allows one; else nothing."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return [unshare, "-n", "--"]
    return []


def make_book(out: Path, root: Path = ROOT, prefix: list[str] | None = None) -> subprocess.CompletedProcess:
    command = ["make", "--no-print-directory", "book", f"BOOK_DIR={out}", f"PYTHON={sys.executable}"]
    return subprocess.run([*(prefix or []), *command], cwd=root, capture_output=True, text=True, timeout=BUILD_TIMEOUT)


@pytest.fixture(scope="session")
def offline() -> list[str]:
    return without_network()


@pytest.fixture(scope="session")
def site(tmp_path_factory, offline) -> Path:
    """`make book` once for the session, into a temporary folder, with no network where
    the machine allows it (the venv is made first, from PyPI); the site's root."""
    book_python_or_skip()
    out = tmp_path_factory.mktemp("book") / "site"
    started = time.monotonic()
    done = make_book(out, prefix=offline)
    assert done.returncode == 0, f"make book failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    print(f"make book: {time.monotonic() - started:.1f} s")
    return out


def test_the_build_needs_no_network(site, offline):
    if not offline:
        pytest.skip("no network namespace here (unshare -n): the build ran with the network")
    assert (site / "index.html").is_file()  # the session's build ran inside `unshare -n`


def page_of(entry: dict) -> str:
    return f"notebooks/{entry['file'].removesuffix('.ipynb')}.html"


def soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def article(path: Path):
    return soup(path).select_one("article.bd-article")


def repository_links() -> tuple[str, str, str]:
    """(repository URL, branch, BinderHub URL) the book is configured with."""
    repo = os.environ.get("BOOK_REPOSITORY_URL") or CONFIG["repository"]["url"]
    branch = os.environ.get("BOOK_BRANCH") or CONFIG["repository"]["branch"]
    return repo.rstrip("/"), branch, CONFIG["binder"]["url"].rstrip("/")


def plain(text: str) -> str:
    """Text with its spaces collapsed and Sphinx's typographic quotes made straight again."""
    return " ".join(text.translate(str.maketrans("‘’“”", "''\"\"")).split())


def term_pattern(entry: dict) -> re.Pattern:
    """Which words count as a use of a glossary term (as book/workshop_book.py reads glossary.yml)."""
    patterns = entry.get("match") or [re.escape(entry["term"])]
    flags = 0 if entry.get("case_sensitive") else re.IGNORECASE
    return re.compile(r"(?<![\w-])(?:" + "|".join(patterns) + r")(?![\w-])", flags)


# --- the manifest ------------------------------------------------------------------------


def test_manifest_agrees_with_the_notebooks():
    numbered = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
    assert [e["file"] for e in MANIFEST] == numbered, "the manifest must list every numbered notebook, in order"
    assert [e["order"] for e in MANIFEST] == list(range(1, len(MANIFEST) + 1))
    for entry in MANIFEST:
        nb = nbformat.read(NOTEBOOKS / entry["file"], as_version=4)
        intro = nb.cells[0].source
        title = intro.splitlines()[0]
        assert title == f"# {entry['order']:02d} · {entry['title']}", f"{entry['file']}: title {title!r}"
        stated = re.search(r"\*\*Time to learn:\*\* about (\d+) minutes", intro)
        assert stated and int(stated[1]) == entry["minutes"], (
            f"{entry['file']}: the notebook states {stated and stated[0]}"
        )
        assert entry["role"] in ("lesson", "cleanup")
        assert entry["objectives"] and entry["key_points"], entry["file"]
        cells = {cell.get("id"): cell for cell in nb.cells}
        for cell_id in entry["exercises"]:
            assert cell_id in cells and cells[cell_id].cell_type == "code", f"{entry['file']}: no code cell {cell_id}"
            assert "check_" in cells[cell_id].source, f"{entry['file']}: {cell_id} calls no check"
    assert [e["role"] for e in MANIFEST].count("cleanup") == 1 and MANIFEST[-1]["role"] == "cleanup"


def test_manifest_exercises_are_the_ones_the_exercise_test_runs():
    """The exercise test runs what the manifest lists (it reads it through notebook_support),
    and every exercise's solution is a file in notebooks/solutions/, each of them used."""
    import notebook_support

    assert {name: [e.cell_id for e in found] for name, found in notebook_support.EXERCISES.items()} == {
        e["file"]: e["exercises"] for e in MANIFEST if e["exercises"]
    }
    found = sorted((ROOT / "tests").rglob("test_exercises_after_run_all.py"))
    assert found, "no tests/**/test_exercises_after_run_all.py to run the manifest's exercises"
    assert "from notebook_support import EXERCISES" in found[0].read_text(), "the exercise test must read the manifest"
    named = {e["solutions"][cell]["module"] for e in MANIFEST for cell in e["exercises"]}
    present = {p.stem for p in (NOTEBOOKS / "solutions").glob("ex*.py")}
    assert named == present, (
        f"solutions named but missing: {named - present}; files no exercise uses: {present - named}"
    )


def test_ensure_book_uses_a_venv_only_when_its_stamp_is_current(tmp_path, monkeypatch, capsys):
    venv = tmp_path / ".venv-book"
    monkeypatch.setattr(ensure_book, "VENV", venv)
    monkeypatch.setattr(ensure_book, "STAMP", venv / ".installed")
    assert ensure_book.find_book_python() is None
    assert ensure_book.main(["--check"]) == 1 and "missing or out of date" in capsys.readouterr().out
    python = venv / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    (venv / ".installed").write_text(ensure_book.wanted_stamp())
    assert ensure_book.find_book_python() == str(python)
    (venv / ".installed").write_text("made from another constraints file\n")
    assert ensure_book.find_book_python() is None


# --- the pages ---------------------------------------------------------------------------


def test_one_page_per_manifest_notebook_in_order(site):
    for entry in MANIFEST:
        page = site / page_of(entry)
        assert page.is_file(), f"no page for {entry['file']}"
        h1 = article(page).find("h1").get_text(" ", strip=True)
        assert entry["title"] in h1, f"{page_of(entry)}: heading {h1!r}"
    nav = [a["href"] for a in soup(site / "index.html").select("nav.bd-links a.reference.internal")]
    lessons = [href for href in nav if href.startswith("notebooks/")]
    assert lessons == [page_of(e) for e in MANIFEST], "the navigation must follow the manifest's order"
    for extra in ("glossary.html", "docs/instructor.html"):
        assert extra in nav and (site / extra).is_file(), f"{extra} missing"
    for doc in sorted((ROOT / "docs").glob("*.md")):
        assert (site / "docs" / f"{doc.stem}.html").is_file(), f"no page for docs/{doc.name}"


def test_each_notebook_page_has_its_header_box_and_run_links(site):
    repo, branch, binder = repository_links()
    owner_repo = repo.removeprefix("https://github.com/")
    for entry in MANIFEST:
        page = article(site / page_of(entry))
        box = page.select_one(".workshop-overview")
        assert box is not None, f"{entry['file']}: no header box"
        text = plain(box.get_text(" "))
        assert f"about {entry['minutes']} minutes" in text
        for line in entry["objectives"] + entry["key_points"]:
            words = plain(line.replace("`", ""))
            assert words in text, f"{entry['file']}: header box lacks {line!r}"
        run = page.select_one(".workshop-run")
        hrefs = [a["href"] for a in run.find_all("a", href=True)]
        path = f"notebooks/{entry['file']}"
        assert f"{binder}/v2/gh/{owner_repo}/{branch}?urlpath=lab/tree/{path}" in hrefs, hrefs
        assert f"{repo}/blob/{branch}/{path}" in hrefs, hrefs
        assert "Launch on Binder" in run.get_text()
        commands = [line.split("#")[0].strip() for pre in run.find_all("pre") for line in pre.get_text().splitlines()]
        assert "make lab" in commands and "make test" in commands, commands


def test_exercises_are_framed_and_show_the_check_answer(site):
    for entry in MANIFEST:
        boxes = article(site / page_of(entry)).select(".admonition.workshop-exercise")
        assert len(boxes) == len(entry["exercises"]), f"{entry['file']}: {len(boxes)} exercise boxes"
        for box in boxes:
            assert box.select_one(".admonition-title").get_text(strip=True) == "Exercise"
            assert box.select_one(".cell_input pre"), f"{entry['file']}: exercise without its cell"
            answer = box.select_one(".cell_output").get_text(" ", strip=True)
            assert answer.startswith(("Not yet", "Correct")), f"{entry['file']}: the check says {answer[:80]!r}"


def test_widgets_are_static_and_no_script_comes_from_elsewhere(site):
    for entry in MANIFEST:
        html = (site / page_of(entry)).read_text()
        assert "application/vnd.jupyter.widget-view+json" not in html, f"{entry['file']}: a live widget view"
        nb = nbformat.read(NOTEBOOKS / entry["file"], as_version=4)
        widgets = sum(
            "application/vnd.jupyter.widget-view+json" in out.get("data", {})
            for cell in nb.cells
            for out in cell.get("outputs", [])
        )
        assert len(article(site / page_of(entry)).select(".workshop-widget-static")) == widgets
    for page in site.rglob("*.html"):
        for tag in soup(page).find_all(["script", "link"]):
            url = tag.get("src") or (
                tag.get("href") if tag.name == "link" and "stylesheet" in tag.get("rel", []) else None
            )
            assert not url or not urlparse(url).scheme, f"{page.relative_to(site)} loads {url} from elsewhere"


def test_diagrams_are_on_the_pages(site):
    """Every SVG diagram in a notebook's outputs is drawn on its page, with its <title>."""
    for entry in MANIFEST:
        nb = nbformat.read(NOTEBOOKS / entry["file"], as_version=4)
        titles = [
            m
            for cell in nb.cells
            for out in cell.get("outputs", [])
            for mime in ("text/html", "image/svg+xml")
            for m in re.findall(r"<svg[^>]*>\s*<title[^>]*>([^<]+)</title>", "".join(out.get("data", {}).get(mime, "")))
        ]
        drawn = [t.get_text() for t in article(site / page_of(entry)).select("svg > title")]
        for title in set(titles):
            assert title in drawn, f"{entry['file']}: diagram {title!r} not drawn"


# --- links ---------------------------------------------------------------------------------


def test_internal_links_and_anchors_resolve_and_external_links_are_well_formed(site):
    ids: dict[Path, set[str]] = {}

    def anchors(path: Path) -> set[str]:
        if path not in ids:
            ids[path] = {tag["id"] for tag in soup(path).find_all(id=True)} | {
                tag["name"] for tag in soup(path).find_all("a", attrs={"name": True})
            }
        return ids[path]

    problems, external, internal = [], 0, 0
    # _static/ holds the theme's assets (and two of its template fragments, which are no pages).
    for page in sorted(p for p in site.rglob("*.html") if "_static" not in p.relative_to(site).parts):
        for tag in soup(page).find_all(["a", "link", "script", "img"]):
            url = tag.get("href") or tag.get("src")
            if not url or url.startswith(("mailto:", "javascript:")):
                continue
            parts = urlparse(url)
            where = f"{page.relative_to(site)}: {url}"
            if parts.scheme or parts.netloc:
                external += 1
                if (
                    parts.scheme not in ("http", "https")
                    or not re.fullmatch(r"[\w.-]+\.[a-z]{2,}", parts.netloc)
                    or re.search(r"\s", url)
                ):
                    problems.append(f"{where}: not a well-formed web address")
                continue
            internal += 1
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file() or site.resolve() not in target.parents:
                problems.append(f"{where}: no such file in the site")
            elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in anchors(target):
                problems.append(f"{where}: no anchor #{parts.fragment}")
    assert not problems, "\n".join(problems)
    assert internal > 500 and external > 20  # the walk really walked


def test_first_use_of_each_glossary_term_links_to_the_glossary(site):
    anchors = {
        dt.find(string=True, recursive=False).strip(): dt["id"]
        for dt in soup(site / "glossary.html").select("dl.glossary > dt[id]")
    }
    terms = {entry["term"]: term_pattern(entry) for entry in GLOSSARY}
    assert set(anchors) == set(terms), "the glossary page must have exactly glossary.yml's entries"
    for entry in MANIFEST:
        body = article(site / page_of(entry))
        links: dict[str, int] = {}
        checked: dict[str, str] = {}
        for string in body.find_all(string=True):
            parent = string.parent
            if any(
                p.name in NOT_PROSE or set(p.get("class", [])) & set(NOT_PROSE_CLASSES)
                for p in [parent, *parent.parents]
                if p is not None and p.name
            ):
                continue
            link = parent.find_parent("a")
            href = link.get("href", "") if link else ""
            linked_term = next((t for t in terms if href.endswith(f"glossary.html#{anchors[t]}")), None)
            if link and not linked_term:
                continue  # another link's words: not a place for a glossary link
            if linked_term:  # the link's words are that term's use, whatever surrounds them
                links[linked_term] = links.get(linked_term, 0) + 1
                checked.setdefault(linked_term, "linked")
                continue
            for term, pattern in terms.items():
                if term in checked or not pattern.search(string):
                    continue
                checked[term] = f"unlinked in {' '.join(string.split())[:80]!r}"
        name = entry["file"]
        first_unlinked = {t: how for t, how in checked.items() if how != "linked"}
        assert not first_unlinked, f"{name}: first use not linked: {first_unlinked}"
        assert all(count == 1 for count in links.values()), f"{name}: a term linked more than once: {links}"
        assert len(links) >= 4, f"{name}: only {sorted(links)} linked"


# --- what must never be in the site --------------------------------------------------------


def site_files(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*") if p.is_file() and p.suffix not in BINARY_SUFFIXES)


def test_no_solution_is_published(site):
    taught = "\n".join(cell.source for p in NOTEBOOKS.glob("*.ipynb") for cell in nbformat.read(p, as_version=4).cells)
    distinctive = {}
    for solution in sorted((NOTEBOOKS / "solutions").glob("*.py")):
        lines = {line.strip() for line in solution.read_text().splitlines()}
        distinctive[solution.name] = {
            line for line in lines if len(line) >= 25 and not line.startswith(("#", '"""')) and line not in taught
        }
        assert distinctive[solution.name], f"{solution.name}: no line to look for"
    assert not [p for p in site.rglob("*") if "solutions" in p.relative_to(site).parts or p.name.startswith("ex0")]
    for path in site_files(site):
        text = path.read_text(encoding="utf-8", errors="replace")
        for name, lines in distinctive.items():
            found = [line for line in lines if line in text]
            assert not found, f"{path.relative_to(site)} holds {name}'s {found[0]!r}"


def test_secret_scan_finds_nothing_in_the_site(site, tmp_path):
    files = site_files(site)
    findings, count = secret_scan.scan_paths(files)
    assert count == len(files) > 50
    assert not findings, "\n".join(str(f) for f in findings)
    # The same scan does see a secret in a page: one made-up access key id, planted in a copy.
    planted = tmp_path / "page.html"
    planted.write_text((site / page_of(MANIFEST[0])).read_text() + "<p>" + "AKIA" + "Q3VZ7RTX2LMN4PWD</p>")
    assert [f.kind for f in secret_scan.scan_paths([planted])[0]] == ["access-key-id"]


# --- the build's gate ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "planted, expected",
    [
        ("A link to [a page that is not there](no-such-page.md).", "not in the repository"),
        ("A term that is not in the glossary: {term}`no such term`.", "term not in glossary"),
    ],
)
def test_a_broken_reference_fails_the_build(tmp_path, planted, expected):
    book_python_or_skip()
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "book", copy / "book")
    shutil.copytree(ROOT / "docs", copy / "docs")
    shutil.copytree(NOTEBOOKS, copy / "notebooks", ignore=shutil.ignore_patterns("solutions", "workshop-data", ".*"))
    for name in ("Makefile", "constraints-book.txt"):
        shutil.copy(ROOT / name, copy / name)
    kept = ("ensure_book.py", "tool_venv.py")  # what `make book` runs from tests/
    shutil.copytree(ROOT / "tests", copy / "tests", ignore=lambda d, names: [n for n in names if n not in kept])
    os.symlink(ensure_book.VENV, copy / ".venv-book")
    with (copy / "docs" / "instructor.md").open("a") as doc:
        doc.write(f"\n{planted}\n")
    done = make_book(tmp_path / "site", root=copy)
    assert done.returncode != 0, "the build passed a broken reference"
    assert expected in done.stdout + done.stderr
    assert not (tmp_path / "site").exists(), "a failed build left a site behind"


# --- publishing --------------------------------------------------------------------------------


def test_pages_workflow_builds_with_make_book_and_publishes_the_site():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    default_dir = re.search(r"^BOOK_DIR \?= (\S+)$", (ROOT / "Makefile").read_text(), re.M)[1]
    jobs = workflow["jobs"]
    steps = [step for job in jobs.values() for step in job.get("steps", [])]
    runs = [step.get("run", "") for step in steps]
    assert any(re.search(r"^make book\b", run, re.M) for run in runs), runs
    uploads = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-pages-artifact@")]
    assert uploads and uploads[0]["with"]["path"] == default_dir, uploads
    assert any(str(s.get("uses", "")).startswith("actions/deploy-pages@") for s in steps)
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "push" in on and "workflow_dispatch" in on
    assert workflow["permissions"]["pages"] == "write" and workflow["permissions"]["id-token"] == "write"


# --- in a browser ------------------------------------------------------------------------------

AXE_PAGES = [page_of(MANIFEST[0]), page_of(MANIFEST[3]), page_of(MANIFEST[4])]


@pytest.mark.browser
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_pages_have_no_serious_accessibility_violation(site, theme):
    from axe_playwright_python.sync_playwright import Axe
    from browser_support import AXE_IMPACTS, CHROMIUM_ARGS, SVG_TEXT_CONTRAST_JS, chromium_or_skip
    from playwright.sync_api import sync_playwright

    executable = chromium_or_skip()
    svg_contrast = SVG_TEXT_CONTRAST_JS.replace(".jp-OutputArea-output svg text", ".cell_output svg text")
    problems = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            # pydata-sphinx-theme reads the reader's choice from localStorage and sets data-theme.
            context.add_init_script(
                f"localStorage.setItem('mode', '{theme}'); localStorage.setItem('theme', '{theme}');"
            )
            page = context.new_page()
            for rel in AXE_PAGES:
                page.goto((site / rel).as_uri())
                page.wait_for_load_state("load")
                assert page.evaluate("document.documentElement.dataset.theme") == theme
                for rule in Axe().run(page).response["violations"]:
                    if rule.get("impact") in AXE_IMPACTS:
                        for node in rule["nodes"]:
                            problems.append(
                                f"{rel}: axe {rule['id']} ({rule['impact']}) at {node['target']}: "
                                f"{(node.get('failureSummary') or '')[:300]}"
                            )
                for top in range(0, page.evaluate("document.body.scrollHeight"), 800):
                    page.evaluate(f"window.scrollTo(0, {top})")
                    for bad in page.evaluate(svg_contrast, page.locator("article").element_handle()):
                        problems.append(f"{rel}: svg text {bad['text']!r} {bad['ratio']}:1 on {bad['background']}")
        finally:
            browser.close()
    assert not problems, f"in the {theme} theme:\n" + "\n".join(sorted(set(problems)))
