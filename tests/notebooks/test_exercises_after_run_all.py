"""Exercises in the order a learner really runs them: the whole notebook first (Run All),
then back up to the exercise. Unedited, the exercise cell answers "Not yet" (no NameError
because a later section deleted something); with its worked solution from
notebooks/solutions/ pasted in, it answers "Correct". Each notebook runs alone, in a fresh
kernel on a fresh account, as the learner's Run All does.
"""

from __future__ import annotations

import pathlib

import nbformat
import pytest
from notebook_support import EXERCISES  # notebook -> its exercises: cell id, solution, answer lines
from workshop_run import code_cell, copy_notebooks, execute, kernel_env

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOLUTIONS = ROOT / "notebooks" / "solutions"

# What the cell just run returned: a CheckResult that passed or not. (From IPython's output
# history by that cell's number: `_` stops following once a notebook assigns `_` itself.)
PROBE = """\
result = Out.get(len(In) - 2)
assert type(result).__name__ == "CheckResult", f"the exercise cell returned {result!r}, not a check result"
assert result.passed is EXPECTED, f"expected passed=EXPECTED: {result.message}"
"""


def check_lines(source: str) -> str:
    lines = [line for line in source.splitlines() if line.startswith("check_")]
    assert lines, "the exercise cell has no check_...() call"
    return "\n".join(lines)


def pasted(cell_source: str, solution: str, answer: str) -> str:
    """The exercise cell as a learner fills it in: the solution's code, then the answer, then the check."""
    code = (SOLUTIONS / f"{solution}.py").read_text()
    return f"{code}\n\n{answer}\n\n{check_lines(cell_source)}\n"


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_exercises_after_run_all(name, tmp_path):
    copy = copy_notebooks(tmp_path / "notebooks", [name])
    nb = nbformat.read(copy / name, as_version=4)
    cells = {cell.get("id"): cell for cell in nb.cells}
    extra = []
    for cell_id, solution, answer in EXERCISES[name]:
        assert cell_id in cells, f"{name}: no exercise cell {cell_id} (renamed? update notebooks/manifest.yml)"
        original = cells[cell_id].source
        assert "None" in original or "your code here" in original or "your check here" in original, (
            f"{name}: cell {cell_id} does not look like an unanswered exercise"
        )
        extra += [
            code_cell(original, tag="exercise-again"),
            code_cell(PROBE.replace("EXPECTED", "False"), tag="probe"),
            code_cell(pasted(original, solution, answer), tag="exercise-solved"),
            code_cell(PROBE.replace("EXPECTED", "True"), tag="probe"),
        ]
    nb.cells += extra  # Run All, then the learner scrolls back to each exercise
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    execute(nb, copy, kernel_env(run_dir))
    for cell in nb.cells[-len(extra) :]:
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"{name}: {errors[0]['ename']}: {errors[0]['evalue']}"
