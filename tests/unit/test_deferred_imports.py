"""An import inside a function is there only to keep start-up fast, and says so.

Every `import` or `from ... import` statement inside a function (at any depth) in
workshop_helpers needs a comment starting with the marker `# deferred:` followed by the
reason, either at the end of the import's first line or alone on the line directly
above it, e.g. `# deferred: moto's EC2 models take a second to import`. Any other import
belongs at the top of its module (import cycles no longer force one down: see
test_import_graph.py).
"""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "workshop_helpers"
MARKER = "# deferred:"

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def in_function_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """The import statements of a module that sit inside a function, nested or not."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST, inside: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if inside and isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append(child)
            visit(child, inside or isinstance(child, _FUNCTIONS))

    visit(tree, False)
    return found


def _says_why(lines: list[str], node: ast.stmt) -> bool:
    line = lines[node.lineno - 1]
    above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
    return MARKER in line or above.startswith(MARKER)


def unexplained(source: str, name: str) -> list[str]:
    """`name:line: import` for each in-function import without the marker."""
    lines = source.splitlines()
    return [
        f"{name}:{node.lineno}: {ast.unparse(node)}"
        for node in in_function_imports(ast.parse(source, name))
        if not _says_why(lines, node)
    ]


def test_the_reader_finds_unexplained_in_function_imports():
    source = (
        "import os\n"
        "def f():\n"
        "    import json\n"
        "    # deferred: start-up\n"
        "    import moto\n"
        "    import boto3  # deferred: start-up\n"
        "    class C:\n"
        "        def g(self):\n"
        "            from . import x\n"
        "    return lambda: __import__('y')\n"
    )
    assert unexplained(source, "m.py") == ["m.py:3: import json", "m.py:9: from . import x"]


def test_every_in_function_import_says_why_it_is_deferred():
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        problems += unexplained(path.read_text(), str(path.relative_to(ROOT)))
    assert not problems, (
        f"{len(problems)} import(s) inside functions without a '{MARKER} <why>' comment"
        " (move them to the top of the module unless deferring keeps start-up fast):\n" + "\n".join(problems)
    )
