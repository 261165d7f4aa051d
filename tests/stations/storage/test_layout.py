"""The storage package's own layout: it imports only the domain and geodata, its modules
import each other without a cycle, and none imports inside a function unless a
``# deferred:`` comment says why."""

from __future__ import annotations

import ast
from pathlib import Path

import stations.storage

PACKAGE = Path(stations.storage.__file__).parent


def _modules() -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.glob("*.py"))}


def _imported(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if base == "stations.storage":  # from stations.storage import schema
        return [f"{base}.{a.name}" for a in node.names]
    return [base]


def test_storage_imports_only_the_domain_and_geodata_of_ours():
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _imported(node):
                    if target.split(".")[0] in ("stations", "api", "geodata"):
                        assert target.startswith(
                            ("stations.storage", "stations.domain", "geodata")
                        ), f"{name} imports {target}"


def test_storage_modules_import_each_other_without_a_cycle():
    graph = {
        name: {
            t.removeprefix("stations.storage.")
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for t in _imported(node)
            if t.startswith("stations.storage.")
        }
        for name, tree in _modules().items()
    }
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, " -> ".join((*path, name))
        if name in done:
            return
        for other in graph.get(name, ()):
            visit(other, (*path, name))
        done.add(name)

    for name in graph:
        visit(name, ())


def test_no_import_inside_a_function_without_saying_why():
    for path in sorted(PACKAGE.glob("*.py")):
        lines = path.read_text().splitlines()
        tree = ast.parse("\n".join(lines))
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    before = lines[max(0, node.lineno - 5) : node.lineno - 1]
                    assert any("# deferred:" in line for line in before), (
                        f"{path.name}:{node.lineno} imports inside a function"
                    )
