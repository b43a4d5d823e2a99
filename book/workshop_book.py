"""Sphinx extension for the workshop's book (loaded from the book's _config.yml).

Two things Jupyter Book does not do by itself, done on each notebook page's doctree:

- Exercises. A code cell tagged `workshop-exercise` (book/build.py tags the manifest's
  exercise cells) is framed by an "Exercise" admonition that says how the self-check
  answers; the cell's committed output (its "Not yet" message) stays under it.
- Glossary links. The first use of each glossary term in a page's prose becomes a link to
  its entry on the glossary page (a `term` reference, so an unknown term fails the build).
  What counts as a use is the term's `match` patterns in glossary.yml. Headings, code,
  existing links, the boxes build.py adds and cell outputs are left alone.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx

EXERCISE_TAG = "tag_workshop-exercise"
# Classes of the boxes build.py puts under each notebook's title: no glossary links inside.
BOX_CLASSES = {"workshop-overview", "workshop-run"}
SKIP_NODES = (
    nodes.title,
    nodes.subtitle,
    nodes.rubric,
    nodes.literal,
    nodes.literal_block,
    nodes.reference,
    nodes.raw,
    nodes.FixedTextElement,
    nodes.caption,
    addnodes.pending_xref,
    nodes.term,
)


def load_terms(srcdir: str) -> list[tuple[str, re.Pattern]]:
    """(term, pattern of its uses) for every glossary entry, longest pattern first."""
    data = yaml.safe_load((Path(srcdir) / "glossary.yml").read_text(encoding="utf-8"))
    terms = []
    for entry in data["terms"]:
        patterns = entry.get("match") or [re.escape(entry["term"])]
        flags = 0 if entry.get("case_sensitive") else re.IGNORECASE
        terms.append((entry["term"], re.compile(r"(?<![\w-])(?:" + "|".join(patterns) + r")(?![\w-])", flags)))
    return terms


def _skipped(node: nodes.Node) -> bool:
    parent = node.parent
    while parent is not None:
        if isinstance(parent, SKIP_NODES):
            return True
        classes = set(parent.get("classes", [])) if isinstance(parent, nodes.Element) else set()
        if classes & BOX_CLASSES or "cell_output" in classes or "cell_input" in classes:
            return True
        parent = parent.parent
    return False


def link_first_uses(doctree: nodes.document, docname: str, terms: list[tuple[str, re.Pattern]]) -> int:
    """Turn the first use of each term into a reference to its glossary entry; return how many."""
    unlinked = dict(terms)
    count = 0
    for text in list(doctree.findall(nodes.Text)):
        if not unlinked or _skipped(text):
            continue
        pieces: list[nodes.Node] = []
        rest = str(text)
        while unlinked:
            found = [(m.start(), -len(m[0]), term, m) for term, p in unlinked.items() if (m := p.search(rest))]
            if not found:
                break
            _, _, term, match = min(found)
            if match.start():
                pieces.append(nodes.Text(rest[: match.start()]))
            ref = addnodes.pending_xref(
                "",
                refdomain="std",
                reftype="term",
                reftarget=term.lower(),
                refexplicit=True,
                refwarn=True,
                refdoc=docname,
            )
            ref += nodes.inline(match[0], match[0], classes=["xref", "std", "std-term", "workshop-term"])
            pieces.append(ref)
            rest = rest[match.end() :]
            del unlinked[term]
            count += 1
        if pieces:
            if rest:
                pieces.append(nodes.Text(rest))
            text.parent.replace(text, pieces)
    return count


def frame_exercises(doctree: nodes.document) -> int:
    count = 0
    for cell in list(doctree.findall(nodes.container)):
        if EXERCISE_TAG not in cell.get("classes", []):
            continue
        box = nodes.admonition(classes=["workshop-exercise"])
        box += nodes.title("Exercise", "Exercise")
        note = (
            "In the notebook, fill in this cell and run it: its self-check answers "
            "“Not yet” with a hint, or “Correct”. Below, the cell as it is handed out, "
            "and what the check says to it."
        )
        box += nodes.paragraph(note, note)
        cell.parent.replace(cell, box)
        box += cell
        count += 1
    return count


def on_doctree_read(app: Sphinx, doctree: nodes.document) -> None:
    docname = app.env.docname
    if not docname.startswith("notebooks/"):
        return
    frame_exercises(doctree)
    if not hasattr(app.env, "workshop_terms"):
        app.env.workshop_terms = load_terms(app.srcdir)
    link_first_uses(doctree, docname, app.env.workshop_terms)


def setup(app: Sphinx) -> dict:
    app.connect("doctree-read", on_doctree_read)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
