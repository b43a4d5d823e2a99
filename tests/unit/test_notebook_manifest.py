"""notebooks/manifest.yml as the tests read it (tests/notebook_support.py): the one list of
notebooks, and one line naming what is wrong when an entry cannot be used."""

from __future__ import annotations

import pytest
import yaml
from notebook_support import (
    CLEANUP_NOTEBOOK,
    EXERCISES,
    LESSON_NOTEBOOKS,
    NOTEBOOKS,
    WORKSHOP_NOTEBOOKS,
    ManifestError,
    read_manifest,
)

ENTRY = {
    "order": 1,
    "file": "01-a.ipynb",
    "role": "lesson",
    "exercises": ["cell-1"],
    "solutions": {"cell-1": {"module": "ex01_a", "answer": "x = solve(ws)"}},
}
CLEANUP = {"order": 2, "file": "02-cleanup.ipynb", "role": "cleanup", "exercises": [], "solutions": {}}


def _write(tmp_path, *entries):
    path = tmp_path / "manifest.yml"
    path.write_text(yaml.safe_dump({"notebooks": list(entries)}))
    return path


def test_the_sequence_is_the_manifest_in_order_with_the_cleanup_last():
    assert WORKSHOP_NOTEBOOKS == tuple(sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]-*.ipynb")))
    assert WORKSHOP_NOTEBOOKS[-1] == CLEANUP_NOTEBOOK
    assert LESSON_NOTEBOOKS == WORKSHOP_NOTEBOOKS[:-1]
    assert set(EXERCISES) == set(WORKSHOP_NOTEBOOKS)  # every notebook has an exercise
    assert all(e.solution.startswith("ex") and e.cell_id for found in EXERCISES.values() for e in found)


def test_a_valid_manifest_is_read(tmp_path):
    assert [e["file"] for e in read_manifest(_write(tmp_path, ENTRY, CLEANUP))] == ["01-a.ipynb", "02-cleanup.ipynb"]


@pytest.mark.parametrize(
    ("entries", "said"),
    [
        (
            [dict(ENTRY, solutions={}), CLEANUP],
            "01-a.ipynb: exercises ['cell-1'] and solutions [] must name the same cells",
        ),
        ([dict(ENTRY, role="lecture"), CLEANUP], "01-a.ipynb: role must be one of lesson, cleanup"),
        ([ENTRY], "exactly one notebook must have role cleanup, not 0"),
        (
            [ENTRY, CLEANUP, dict(CLEANUP, file="03-cleanup.ipynb")],
            "exactly one notebook must have role cleanup, not 2",
        ),
    ],
    ids=["exercise-without-solution", "unknown-role", "no-cleanup", "two-cleanups"],
)
def test_an_unusable_manifest_is_named_in_one_line(tmp_path, entries, said):
    with pytest.raises(ManifestError) as info:
        read_manifest(_write(tmp_path, *entries))
    assert said in str(info.value) and "\n" not in str(info.value)


def test_a_manifest_without_a_notebook_list_is_named(tmp_path):
    path = tmp_path / "manifest.yml"
    path.write_text("books: []\n")
    with pytest.raises(ManifestError, match="cannot read its `notebooks:` list"):
        read_manifest(path)
