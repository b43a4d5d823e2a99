"""The notebooks' face of workshop_helpers, derived from what the notebooks and their
solutions use, and pinned both ways:

- every name a notebook or a solution takes from workshop_helpers is public: listed in its
  module's `__all__` (so a refactor that renames it fails here, not in a learner's kernel);
- every name a notebook-facing module exports is used, by a notebook, a solution, another
  module of the package, the command line, a benchmark or a test: an export nobody uses is
  a name a learner may find and nobody keeps working.
"""

from __future__ import annotations

import ast
import importlib
import json
import pathlib
import types
from collections import defaultdict

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
# The modules notebooks import from whose exports are theirs (envelope/ is a library with
# its own API, used by the command line too, and is pinned by its own tests; the package's
# own face, workshop_helpers, also names its errors for `except workshop_helpers.WorkshopError`).
NOTEBOOK_FACING = (
    "workshop_helpers.checks",
    "workshop_helpers.display",
    "workshop_helpers.display.sse_cse",
    "workshop_helpers.display.trail",
    "workshop_helpers.widgets",
    "workshop_helpers.fixtures",
    "workshop_helpers.openssl",
)


def _lesson_sources() -> dict[str, str]:
    """{file: Python source} of every notebook's code cells and every solution file."""
    found = {}
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        code = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
        # IPython's magics and shell lines are not Python
        found[notebook.name] = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))
    for solution in sorted((ROOT / "notebooks" / "solutions").glob("*.py")):
        found[f"solutions/{solution.name}"] = solution.read_text()
    return found


def _names_a_module(parent: str, name: str) -> bool:
    """Whether `from parent import name` gives a module (not a function of the same name)."""
    try:
        value = getattr(importlib.import_module(parent), name, None)
        if value is None:
            value = importlib.import_module(f"{parent}.{name}")
    except ImportError:
        return False
    return isinstance(value, types.ModuleType)


def _absolute(path: str, node: ast.ImportFrom) -> str:
    """The module a `from ... import` names, relative imports resolved from the file's path."""
    if not node.level:
        return node.module or ""
    package = list(pathlib.PurePath(path).with_suffix("").parts)
    package = package[: len(package) - node.level]  # a module's own name, then one per dot
    return ".".join(package + ([node.module] if node.module else []))


def names_used(sources: dict[str, str]) -> dict[str, set[str]]:
    """{module: names taken from it}: `from M import name` and `M.name` where M was imported
    as a module of workshop_helpers (`sources` maps a path relative to the repository to
    its code, so relative imports in the package are read too)."""
    used: dict[str, set[str]] = defaultdict(set)
    for path, source in sources.items():
        tree = ast.parse(source)
        modules: dict[str, str] = {}  # local name -> module
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and _absolute(path, node).startswith("workshop_helpers"):
                origin = _absolute(path, node)
                for alias in node.names:
                    if _names_a_module(origin, alias.name):
                        modules[alias.asname or alias.name] = f"{origin}.{alias.name}"
                    else:
                        used[origin].add(alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("workshop_helpers"):
                        modules[alias.asname or alias.name.split(".")[0]] = (
                            alias.name if alias.asname else "workshop_helpers"
                        )
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
                used[modules[node.value.id]].add(node.attr)
    return used


def _code_sources() -> dict[str, str]:
    """The package, the tests, the benchmarks and the book's build: every other user."""
    found = {}
    for folder in ("workshop_helpers", "tests", "benchmarks", "book"):
        for path in (ROOT / folder).rglob("*.py"):
            found[str(path.relative_to(ROOT))] = path.read_text()
    return found


def _exported(module: str) -> set[str]:
    return set(getattr(importlib.import_module(module), "__all__", ()))


def _is_submodule(module: str, name: str) -> bool:
    return isinstance(getattr(importlib.import_module(module), name, None), types.ModuleType)


def test_the_reader_sees_imports_and_attributes():
    used = names_used(
        {
            "nb": "import workshop_helpers\nfrom workshop_helpers import fixtures\nfrom workshop_helpers.display import table\n"
            "ws = workshop_helpers.connect()\nfixtures.ensure_imported_cmk(ws)\n"
        }
    )
    assert used["workshop_helpers"] == {"connect"}
    assert used["workshop_helpers.fixtures"] == {"ensure_imported_cmk"}
    assert used["workshop_helpers.display"] == {"table"}


def test_every_name_the_notebooks_use_is_public():
    missing = []
    for module, names in names_used(_lesson_sources()).items():
        exported = _exported(module)
        if not exported:  # a module without __all__: every name not starting with _ is public
            missing += [f"{module}.{name}" for name in names if name.startswith("_")]
            continue
        missing += [f"{module}.{name}" for name in sorted(names - exported) if not _is_submodule(module, name)]
    assert not missing, f"notebooks use names their module does not export: {missing}"


def test_every_export_of_a_notebook_facing_module_is_used_somewhere():
    lessons = names_used(_lesson_sources())
    elsewhere: dict[str, set[str]] = defaultdict(set)
    for path, source in _code_sources().items():
        for module, names in names_used({path: source}).items():
            if not path.startswith(module.replace(".", "/")):  # its own package does not count
                elsewhere[module] |= names
    unused = [
        f"{module}.{name}"
        for module in NOTEBOOK_FACING
        for name in sorted(_exported(module) - lessons[module] - elsewhere[module])
    ]
    assert not unused, f"exported for the notebooks, used by nothing: {unused}"
