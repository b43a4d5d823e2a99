"""Build the workshop's static site with Jupyter Book 1: `make book` (run by .venv-book's Python).

    .venv-book/bin/python book/build.py [--out DIR] [--keep-source DIR]

Reads only files the repository keeps, never generated state: notebooks/manifest.yml and
the notebooks it lists (in its order, with their committed outputs), docs/*.md and book/
(this configuration, the glossary, the intro page, the Sphinx extension and its CSS). They are copied into a temporary source folder and prepared
there, never in place:

- each notebook page gets, under its title, a box with the manifest's objectives, time
  and key points, and a box with "Launch on Binder", "Run it on your machine" and a link
  to the notebook file;
- the manifest's exercise cells get the tag `workshop-exercise` (the extension frames
  them as exercises);
- widget outputs become static HTML built from the widget state saved in the notebook
  (a published page has no kernel; this also keeps the widget scripts off the page);
- a link to a repository file that is not a page of the book (a script, the README, an
  exercise's solution) points at that file in the repository instead.

Notebooks are never executed, and nothing under notebooks/solutions/ is read. Sphinx runs
with warnings as errors and nit-picky references, so a broken link, a missing file or an
unknown term fails the build. The site replaces DIR (default build/book/) only once the
build has succeeded.
"""

from __future__ import annotations

import argparse
import html
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
NOTEBOOKS = ROOT / "notebooks"
DOCS = ROOT / "docs"
MANIFEST = NOTEBOOKS / "manifest.yml"
DEFAULT_OUT = ROOT / "build" / "book"

EXERCISE_TAG = "workshop-exercise"
# The docs pages, the instructor's guide first; every other docs/*.md follows by name.
FIRST_DOCS = ("instructor.md",)
# Markdown links and images: [text](target) with an optional "title".
LINK = re.compile(r"(\]\()([^)\s]+)((?:\s+\"[^\"]*\")?\))")
CODE_FENCE = re.compile(r"^(```|~~~)")


class BuildError(Exception):
    """A problem in the book's inputs, said in one line."""


def load_manifest() -> list[dict]:
    entries = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))["notebooks"]
    orders = [entry["order"] for entry in entries]
    if orders != sorted(orders) or len(set(orders)) != len(orders):
        raise BuildError(f"{MANIFEST.name}: the entries are not in strictly increasing order: {orders}")
    for entry in entries:
        if "/" in entry["file"] or not (NOTEBOOKS / entry["file"]).is_file():
            raise BuildError(f"{MANIFEST.name}: no notebook {entry['file']} in notebooks/")
    return entries


def repository_settings(config: dict) -> tuple[str, str, str]:
    """(repository URL, branch, BinderHub URL), from the config or the environment."""
    url = os.environ.get("BOOK_REPOSITORY_URL") or config["repository"]["url"]
    branch = os.environ.get("BOOK_BRANCH") or config["repository"].get("branch", "HEAD")
    binder = config.get("binder", {}).get("url", "https://mybinder.org")
    match = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)/?", url)
    if not match:
        raise BuildError(f"repository url {url!r} is not https://github.com/OWNER/REPO")
    return f"https://github.com/{match[1]}/{match[2]}", branch, binder.rstrip("/")


class Links:
    """Where a repository file is shown: its page in the book, or the file in the repository."""

    def __init__(self, repo_url: str, branch: str, pages: set[str]):
        self.repo_url, self.branch, self.pages = repo_url, branch, pages

    def file_url(self, path: str) -> str:
        kind = "tree" if (ROOT / path).is_dir() else "blob"
        return f"{self.repo_url}/{kind}/{self.branch}/{path}"

    def binder_url(self, binder: str, path: str) -> str:
        owner_repo = self.repo_url.removeprefix("https://github.com/")
        return f"{binder}/v2/gh/{owner_repo}/{self.branch}?urlpath=lab/tree/{path}"

    def rewrite(self, markdown: str, origin: str) -> str:
        """Links to repository files that are not pages become links into the repository.
        `origin` is the markdown's own repository path; code blocks are left alone."""
        out, fenced = [], False
        for line in markdown.splitlines(keepends=True):
            if CODE_FENCE.match(line.lstrip()):
                fenced = not fenced
            out.append(line if fenced else LINK.sub(lambda m: self._link(m, origin), line))
        return "".join(out)

    def _link(self, match: re.Match, origin: str) -> str:
        target = match[2]
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            return match[0]
        path, _, anchor = target.partition("#")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(origin), path))
        if resolved in self.pages:
            return match[0]
        if not (ROOT / resolved).exists():
            raise BuildError(f"{origin} links to {target}, which is not in the repository")
        url = self.file_url(resolved) + (f"#{anchor}" if anchor else "")
        return f"{match[1]}{url}{match[3]}"


# --- notebook pages ----------------------------------------------------------------------


def header_markdown(entry: dict, links: Links, binder: str) -> str:
    """The boxes under a notebook page's title: what it teaches, and how to run it."""
    path = f"notebooks/{entry['file']}"
    objectives = "\n".join(f"- {line}" for line in entry["objectives"])
    key_points = "\n".join(f"- {line}" for line in entry["key_points"])
    exercises = len(entry.get("exercises", []))
    exercise_text = f" · **Exercises:** {exercises}" if exercises else ""
    return f"""\
:::{{admonition}} In this notebook
:class: workshop-overview

**Time to learn:** about {entry["minutes"]} minutes{exercise_text}

**Objectives**

{objectives}

**Key points**

{key_points}
:::

::::{{admonition}} Run this notebook
:class: workshop-run

- [Launch on Binder]({links.binder_url(binder, path)}): JupyterLab in your browser on
  this notebook, with nothing to install (the simulated backend; no AWS account).
- Run it on your machine: clone the repository, then

  ```
  make lab     # set up, then open the workshop in JupyterLab
  make test    # set up, then run every test
  ```

- [The notebook file]({links.file_url(path)}), with the outputs shown on this page.
::::
"""


def widget_html(model_id: str, state: dict) -> str:
    """Static HTML for a widget and its children, from the state saved in the notebook:
    text and HTML as they were, controls shown but inert."""
    model = state.get(model_id)
    if model is None:
        return ""
    name, values = model["model_name"], model["state"]
    description = html.escape(str(values.get("description") or ""))
    tooltip = values.get("tooltip")
    title = f' title="{html.escape(tooltip)}"' if tooltip not in (None, "None", "") else ""
    classes = " ".join(["workshop-widget", *values.get("_dom_classes", [])])
    if name in ("VBoxModel", "HBoxModel", "BoxModel", "GridBoxModel"):
        children = "".join(widget_html(ref.removeprefix("IPY_MODEL_"), state) for ref in values.get("children", []))
        direction = "row" if name == "HBoxModel" else "column"
        return f'<div class="{classes} workshop-widget-{direction}">{children}</div>'
    if name == "HTMLModel":
        return f'<div class="{classes}">{values.get("value", "")}</div>'
    if name == "LabelModel":
        return f'<div class="{classes}">{html.escape(str(values.get("value", "")))}</div>'
    if name == "ButtonModel":
        return f'<button type="button" class="{classes}" disabled{title}>{description}</button>'
    if name == "CheckboxModel":
        checked = " checked" if values.get("value") in (True, "True") else ""
        return f'<label class="{classes}"{title}><input type="checkbox" disabled{checked}> {description}</label>'
    if name in ("TextModel", "TextareaModel", "IntTextModel", "FloatTextModel"):
        value = html.escape(str(values.get("value", "")), quote=True)
        return (
            f'<label class="{classes}"{title}>{description} '
            f'<input type="text" value="{value}" readonly disabled></label>'
        )
    return f'<div class="{classes}">{description}</div>'


def static_widgets(nb: nbformat.NotebookNode, name: str) -> None:
    """Replace every widget view with static HTML; drop the saved widget state."""
    state = nb.metadata.pop("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            view = data.pop("application/vnd.jupyter.widget-view+json", None)
            if view is None:
                continue
            body = widget_html(view["model_id"], state)
            if not body:
                raise BuildError(f"{name}: a widget output whose state was not saved")
            data["text/html"] = (
                '<div class="workshop-widget-static">'
                '<p class="workshop-widget-note">A picture of an interactive control: in the notebook '
                "it responds; on this page it only shows how it starts.</p>"
                f"{body}</div>"
            )


def prepare_notebook(entry: dict, links: Links, binder: str) -> nbformat.NotebookNode:
    name = entry["file"]
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    cells = {cell.get("id"): cell for cell in nb.cells}
    for cell_id in entry.get("exercises", []):
        if cell_id not in cells or cells[cell_id].cell_type != "code":
            raise BuildError(f"{MANIFEST.name}: {name} has no code cell {cell_id!r} (exercises)")
        tags = cells[cell_id].metadata.setdefault("tags", [])
        tags.append(EXERCISE_TAG)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = links.rewrite(cell.source, f"notebooks/{name}")
    first = nb.cells[0]
    title, _, rest = first.source.partition("\n")
    if first.cell_type != "markdown" or not title.startswith("# "):
        raise BuildError(f"{name}: the first cell does not start with the notebook's title")
    nb.cells[0:1] = [
        nbformat.v4.new_markdown_cell(title, id="book-title"),
        nbformat.v4.new_markdown_cell(header_markdown(entry, links, binder), id="book-header"),
        nbformat.v4.new_markdown_cell(rest.lstrip("\n"), id="book-intro"),
    ]
    static_widgets(nb, name)
    return nb


# --- the other pages ----------------------------------------------------------------------


def glossary_markdown() -> str:
    data = yaml.safe_load((BOOK / "glossary.yml").read_text(encoding="utf-8"))
    lines = ["# Glossary", "", data["intro"].strip(), "", ":::{glossary}"]
    for entry in sorted(data["terms"], key=lambda e: e["term"].lower()):
        lines.append(entry["term"])
        definition = " ".join(entry["definition"].split())
        sources = "; ".join(f"[{s['title']}]({s['url']})" for s in entry["sources"])
        lines += [f"  {definition}", "", f"  AWS documentation: {sources}.", ""]
    lines.append(":::")
    return "\n".join(lines) + "\n"


def index_markdown(entries: list[dict], links: Links) -> str:
    """The landing page: book/intro.md, then each notebook with its time and objectives."""
    intro = (BOOK / "intro.md").read_text(encoding="utf-8").rstrip() + "\n"
    total = sum(entry["minutes"] for entry in entries)
    hours, minutes = divmod(total, 60)
    intro = intro.replace("{{ total_time }}", f"{hours} h {minutes:02d} min").replace(
        "{{ repository }}", links.repo_url
    )
    items = []
    for entry in entries:
        stem = entry["file"].removesuffix(".ipynb")
        items.append(
            f"- [{entry['order']:02d} · {entry['title']}](notebooks/{stem}.ipynb), about {entry['minutes']} minutes"
        )
        items += [f"  - {objective}" for objective in entry["objectives"]]
    return intro + "\n" + "\n".join(items) + "\n"


def toc(entries: list[dict], docs: list[str]) -> dict:
    return {
        "format": "jb-book",
        "root": "index",
        "parts": [
            {
                "caption": "The workshop",
                "chapters": [{"file": f"notebooks/{e['file'].removesuffix('.ipynb')}"} for e in entries],
            },
            {
                "caption": "Reference",
                "chapters": [{"file": "glossary"}] + [{"file": f"docs/{d.removesuffix('.md')}"} for d in docs],
            },
        ],
    }


def assemble(src: Path) -> list[dict]:
    """Write the book's sources into `src`; return the manifest entries."""
    config = yaml.safe_load((BOOK / "_config.yml").read_text(encoding="utf-8"))
    repo_url, branch, binder = repository_settings(config)
    config["repository"].update(url=repo_url, branch=branch)
    entries = load_manifest()
    docs = sorted((p.name for p in DOCS.glob("*.md")), key=lambda n: (n not in FIRST_DOCS, n))
    pages = {f"notebooks/{e['file']}" for e in entries} | {f"docs/{d}" for d in docs}
    links = Links(repo_url, branch, pages)

    (src / "notebooks").mkdir(parents=True)
    (src / "docs").mkdir()
    for entry in entries:
        nbformat.write(prepare_notebook(entry, links, binder), src / "notebooks" / entry["file"])
    for name in docs:
        text = (DOCS / name).read_text(encoding="utf-8")
        (src / "docs" / name).write_text(links.rewrite(text, f"docs/{name}"), encoding="utf-8")
    (src / "glossary.md").write_text(glossary_markdown(), encoding="utf-8")
    shutil.copy(BOOK / "glossary.yml", src / "glossary.yml")
    (src / "index.md").write_text(index_markdown(entries, links), encoding="utf-8")
    (src / "_toc.yml").write_text(yaml.safe_dump(toc(entries, docs), sort_keys=False), encoding="utf-8")
    (src / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    (src / "_ext").mkdir()
    shutil.copy(BOOK / "workshop_book.py", src / "_ext" / "workshop_book.py")
    shutil.copytree(BOOK / "static", src / "_static")
    return entries


def build(out: Path, keep_source: Path | None = None) -> None:
    with tempfile.TemporaryDirectory(prefix="kms-book-") as tmp:
        src = Path(tmp) / "src"
        entries = assemble(src)
        if keep_source:
            shutil.rmtree(keep_source, ignore_errors=True)
            shutil.copytree(src, keep_source)
        jupyter_book = Path(sys.executable).with_name("jupyter-book")
        command = [
            str(jupyter_book),
            "build",
            str(src),
            "--path-output",
            str(Path(tmp) / "out"),
            "--builder",
            "html",
            "--warningiserror",
            "--nitpick",
            "--keep-going",
            "--all",
            "--quiet",
        ]
        done = subprocess.run(command, cwd=tmp, capture_output=True, text=True)
        # Warnings name the temporary copies; name the repository's files instead.
        for stream, text in ((sys.stdout, done.stdout), (sys.stderr, done.stderr)):
            stream.write(text.replace(f"{src}{os.sep}", ""))
        if done.returncode != 0:
            raise BuildError(f"jupyter-book build failed (exit {done.returncode}); the warnings above say why")
        html_dir = Path(tmp) / "out" / "_build" / "html"
        for leftover in (".buildinfo", ".doctrees"):
            path = html_dir / leftover
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        # The page's download button offers the notebook as committed, not the prepared copy.
        for entry in entries:
            shutil.copy(NOTEBOOKS / entry["file"], html_dir / "_sources" / "notebooks" / entry["file"])
        (html_dir / ".nojekyll").write_text("")  # GitHub Pages: serve _static/ and _sources/ as they are
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.exists():
            shutil.rmtree(out)
        shutil.move(str(html_dir), str(out))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="book/build.py", description="build the workshop's static site")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the site goes (default: build/book)")
    parser.add_argument("--keep-source", type=Path, help="also keep the prepared sources here (to inspect them)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        build(args.out.resolve(), args.keep_source)
    except BuildError as exc:
        print(f"book: error: {exc}", file=sys.stderr)
        return 1
    print(f"book: built {args.out} in {time.monotonic() - started:.0f} s; open {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
