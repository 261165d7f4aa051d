"""The architecture of issue 14, checked on the source text (ast + tokenize; nothing of ours is
imported: about a second of CPU in all, and no import-time side effect can hide an import).

Each test fails with one line per violation, ``path:line: what``, and says how to fix it:
- the import graph of ``geodata``, ``stations`` and ``api`` has no cycle;
- every import goes in an allowed direction (``ALLOWED`` below, the table of the README's
  "Architecture" section);
- no import inside a function unless a ``# deferred:`` comment says why;
- no SQL outside ``stations/storage/``;
- route functions are thin (``ROUTE_BODY_MAX_LINES``).

Every import counts, including those inside functions and under ``if TYPE_CHECKING:``: a
type-only import still ties the two modules together for a reader and for mypy.
"""

from __future__ import annotations

import ast
import functools
import io
import itertools
import re
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("geodata", "stations", "api")

# Layer -> the other layers it may import (every layer may import itself). A module belongs to
# the longest layer name that prefixes its dotted name; a module in no layer is reported.
_STATIONS_ALL = {
    "stations.domain",
    "stations.formats",
    "stations.storage",
    "stations.readmodel",
    "stations.config",
    "stations.services",
}
ALLOWED: dict[str, set[str]] = {
    "geodata": set(),
    "stations": set(),  # stations/__init__.py: the package docstring only
    "stations.domain": {"geodata"},
    "stations.formats": {"stations.domain", "geodata"},
    "stations.storage": {"stations.domain", "geodata"},
    "stations.readmodel": {"stations.storage", "stations.domain", "geodata"},
    "stations.config": {"stations.storage", "stations.formats", "stations.domain", "geodata"},
    # Services take settings as explicit arguments: they do not import stations.config.
    "stations.services": {
        "stations.readmodel",
        "stations.storage",
        "stations.formats",
        "stations.domain",
        "geodata",
    },
    "stations.cli": {*_STATIONS_ALL, "geodata"},
    "api": {"stations", *_STATIONS_ALL, "stations.cli", "geodata"},
}

# A route parses, calls a service and represents the answer: about 20-30 lines, 40 with room for
# the error mapping and headers. Counted from the first statement after the docstring to the
# end: the signature is left out because FastAPI declares the query parameters there for the
# OpenAPI document (list_stations' 53-line signature is API documentation, not logic), and the
# docstring is the route's description in that document.
ROUTE_BODY_MAX_LINES = 40

DEFERRED = "# deferred:"

# SQL is written with upper-case keywords throughout stations/storage/; matching those (and the
# shape of a statement) keeps English and Chinese prose out: "update the station", "select a
# file from the list" and 更新 are not SQL.
SQL_PATTERNS = (
    re.compile(r"\bSELECT\b[\s\S]*?\bFROM\b"),
    re.compile(r"\bINSERT\s+(?:OR\s+\w+\s+)?INTO\b"),
    re.compile(r"\bUPDATE\s+[\w.\"]+\s+SET\b"),
    re.compile(r"\bDELETE\s+FROM\b"),
    re.compile(r"\bCREATE\s+(?:UNIQUE\s+)?(?:TABLE|INDEX)\b"),
    re.compile(r"\b(?:ALTER|DROP)\s+TABLE\b"),
)


@dataclass(frozen=True)
class Module:
    name: str  # dotted, e.g. stations.storage.open
    path: Path
    tree: ast.Module
    lines: tuple[str, ...]

    @property
    def comments(self) -> dict[int, str]:
        """Line -> the comment on it (stripped); tokenized only when asked (it is slow)."""
        return _comments("\n".join(self.lines))

    @property
    def rel(self) -> str:
        return self.path.relative_to(ROOT).as_posix()

    @property
    def package(self) -> str:
        """The package a relative import in this module is relative to."""
        return self.name if self.path.name == "__init__.py" else self.name.rpartition(".")[0]


@dataclass(frozen=True)
class Import:
    importer: Module
    target: str  # one of our modules
    line: int
    text: str  # the import as written (first line)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@functools.cache
def _comments(source: str) -> dict[int, str]:
    found: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            found[token.start[0]] = token.string.strip()
    return found


@functools.cache
def modules() -> dict[str, Module]:
    found: dict[str, Module] = {}
    for top in OURS:
        for path in sorted((ROOT / top).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            name = _module_name(path)
            found[name] = Module(
                name=name,
                path=path,
                tree=ast.parse(source, filename=str(path)),
                lines=tuple(source.splitlines()),
            )
    return found


def _ours(dotted: str) -> str | None:
    """The longest known module that prefixes ``dotted``, if it is one of ours."""
    if dotted.partition(".")[0] not in OURS:
        return None
    known = modules()
    while dotted and dotted not in known:
        dotted = dotted.rpartition(".")[0]
    return dotted or None


class _ImportVisitor(ast.NodeVisitor):
    """Every import of one of our modules, wherever it is (functions, TYPE_CHECKING blocks)."""

    def __init__(self, module: Module) -> None:
        self.module = module
        self.found: list[Import] = []

    def _add(self, node: ast.Import | ast.ImportFrom, target: str | None) -> None:
        if target is None:
            return
        self.found.append(
            Import(
                importer=self.module,
                target=target,
                line=node.lineno,
                text=self.module.lines[node.lineno - 1].strip(),
            )
        )

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(node, _ours(alias.name))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            package = self.module.package.split(".")
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, *([base] if base else [])])
        known = modules()
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            self._add(node, submodule if submodule in known else _ours(base))


@functools.cache
def imports() -> tuple[Import, ...]:
    found: list[Import] = []
    for module in modules().values():
        visitor = _ImportVisitor(module)
        visitor.visit(module.tree)
        found.extend(visitor.found)
    return tuple(found)


def layer_of(name: str) -> str | None:
    candidates = [layer for layer in ALLOWED if name == layer or name.startswith(layer + ".")]
    return max(candidates, key=len, default=None)


def _fail(problems: list[str], headline: str) -> None:
    """Fail with the sorted list alone (no traceback: the list is the report)."""
    if problems:

        def where(problem: str) -> tuple[str, int]:
            path, line, _ = problem.split(":", 2)
            return path, int(line)

        listing = "\n".join(sorted(set(problems), key=where))
        pytest.fail(f"{headline} ({len(problems)}):\n{listing}", pytrace=False)


# --- no cycle ---------------------------------------------------------------------------------


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components (iterative), those with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def _shortest_cycle(graph: dict[str, set[str]], start: str, within: set[str]) -> list[str]:
    """start -> ... -> start, shortest, through modules of one component (breadth first)."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for child in sorted(graph[node] & within):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if child not in came_from:
                    came_from[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # a component always has one


def test_import_graph_has_no_cycle() -> None:
    graph: dict[str, set[str]] = {name: set() for name in modules()}
    where: dict[tuple[str, str], Import] = {}
    for imp in imports():
        if imp.target != imp.importer.name:
            graph[imp.importer.name].add(imp.target)
            where.setdefault((imp.importer.name, imp.target), imp)
    problems = []
    for component in _strongly_connected(graph):
        cycle = _shortest_cycle(graph, component[0], set(component))
        steps = [where[edge] for edge in itertools.pairwise(cycle)]
        chain = " -> ".join(f"{step.importer.rel}:{step.line}" for step in steps)
        tied = (
            f"; {len(component)} modules tied: {', '.join(component)}" if len(component) > 2 else ""
        )
        problems.append(
            f"{steps[0].importer.rel}:{steps[0].line}: {' -> '.join(cycle)} (at {chain}{tied})"
        )
    _fail(
        problems,
        "import cycles: move what both sides need into a module of a lower layer (or pass it "
        "in as an argument), so that one side no longer imports the other",
    )


# --- allowed directions -----------------------------------------------------------------------


def test_every_module_is_in_a_layer() -> None:
    problems = [
        f"{module.rel}:1: {module.name}"
        for module in modules().values()
        if layer_of(module.name) is None
    ]
    _fail(
        problems,
        "modules in no layer: put each in a package of ALLOWED (tests/test_architecture.py), "
        "or add its package there and to the README's Architecture section",
    )


def test_imports_go_in_the_allowed_directions() -> None:
    problems = []
    for imp in imports():
        source, target = layer_of(imp.importer.name), layer_of(imp.target)
        if source is None or target is None or source == target:
            continue
        if target not in ALLOWED[source]:
            may = ", ".join(sorted(ALLOWED[source])) or "nothing of ours"
            problems.append(
                f"{imp.importer.rel}:{imp.line}: {source} imports {target} "
                f"(`{imp.text}`); {source} may import {may}"
            )
    _fail(
        problems,
        "imports against the layer directions (README, Architecture): move the code to the "
        "layer it belongs to, or pass the value in from the caller",
    )


# --- no import inside a function --------------------------------------------------------------


def _justified(module: Module, node: ast.stmt) -> bool:
    comments = module.comments
    first, last = node.lineno, node.end_lineno or node.lineno
    if any(comments.get(line, "").startswith(DEFERRED) for line in range(first, last + 1)):
        return True
    line = first - 1  # the block of comment lines just above the import
    while line >= 1 and module.lines[line - 1].lstrip().startswith("#"):
        if comments.get(line, "").startswith(DEFERRED):
            return True
        line -= 1
    return False


def _function_imports() -> Iterator[tuple[Module, ast.stmt, str]]:
    """Every import statement inside a function, of any module (ours or not)."""
    for module in modules().values():
        stack: list[tuple[ast.AST, str | None]] = [(module.tree, None)]
        while stack:
            node, function = stack.pop()
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                function = getattr(node, "name", "<lambda>")
            elif isinstance(node, ast.Import | ast.ImportFrom) and function is not None:
                yield module, node, function
            stack.extend((child, function) for child in ast.iter_child_nodes(node))


def test_no_import_inside_a_function_without_a_reason() -> None:
    problems = []
    for module, node, function in _function_imports():
        if not _justified(module, node):
            text = module.lines[node.lineno - 1].strip()
            problems.append(f"{module.rel}:{node.lineno}: `{text}` inside {function}()")
    _fail(
        problems,
        "imports inside functions: move each to the top of its module, or say why on its line "
        f"or just above with `{DEFERRED} ...` (a measured start-up cost, an optional dependency)",
    )


# --- no SQL outside stations/storage/ ---------------------------------------------------------


def _docstrings(tree: ast.Module) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                found.add(id(body[0].value))
    return found


def string_literals(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, text) of every string literal but docstrings; an f-string as one text, with {}."""
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = []
            for value in node.values:
                skip.add(id(value))
                if isinstance(value, ast.Constant):
                    parts.append(str(value.value))
                else:
                    parts.append("{}")
                    if isinstance(value, ast.FormattedValue) and value.format_spec is not None:
                        skip.update(id(v) for v in ast.walk(value.format_spec))
            yield node.lineno, "".join(parts)
        elif (
            isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
        ):
            yield node.lineno, node.value


def sql_in(text: str) -> str | None:
    for pattern in SQL_PATTERNS:
        if match := pattern.search(text):
            return " ".join(match.group(0).split())[:60]
    return None


def _sql_outside_storage() -> list[str]:
    problems = []
    for module in modules().values():
        if module.name.partition(".")[0] not in ("stations", "api"):
            continue
        if layer_of(module.name) == "stations.storage":
            continue
        for line, text in string_literals(module.tree):
            if (found := sql_in(text)) is not None:
                problems.append(f"{module.rel}:{line}: SQL `{found}`")
    return problems


def test_no_sql_outside_storage() -> None:
    _fail(
        _sql_outside_storage(),
        "SQL outside stations/storage/: give the store a method for it and call that",
    )


def test_the_sql_check_finds_sql_and_not_prose() -> None:
    # Not vacuous: the storage modules are full of SQL, and each statement shape is caught.
    storage = [m for m in modules().values() if layer_of(m.name) == "stations.storage"]
    assert sum(1 for m in storage for _, text in string_literals(m.tree) if sql_in(text)) > 20
    for sql in (
        "SELECT count(*) FROM stations WHERE owner = ?",
        "INSERT INTO batches (id) VALUES (?)",
        "INSERT OR REPLACE INTO meta VALUES (?, ?)",
        'UPDATE "stations" SET name = ?',
        "DELETE FROM tokens WHERE id = %s",
        "CREATE UNIQUE INDEX IF NOT EXISTS ix ON t (a)",
        "CREATE TABLE IF NOT EXISTS t (a TEXT)",
    ):
        assert sql_in(sql), sql
    for prose in (
        "update the station's hours",
        "Select a file from the list",
        "delete from the registry is permanent",
        "create table of contents",
        "已更新 3 个驿站；删除 1 个",
    ):
        assert sql_in(prose) is None, prose
    tree = ast.parse('"""SELECT a FROM b in a docstring"""\nx = f"SELECT * FROM {t} WHERE"\n')
    assert [sql_in(text) for _, text in string_literals(tree)] == ["SELECT * FROM"]


# --- thin routes ------------------------------------------------------------------------------


def test_route_functions_are_thin() -> None:
    problems = []
    for module in modules().values():
        if not module.name.startswith("api.routes."):
            continue
        for node in ast.walk(module.tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            body = node.body
            if ast.get_docstring(node) is not None and len(body) > 1:
                body = body[1:]
            length = (node.end_lineno or node.lineno) - body[0].lineno + 1
            if length > ROUTE_BODY_MAX_LINES:
                problems.append(f"{module.rel}:{node.lineno}: {node.name}() body {length} lines")
    _fail(
        problems,
        f"route functions with a body over ROUTE_BODY_MAX_LINES = {ROUTE_BODY_MAX_LINES}: move "
        "the rule or the assembly into stations/services/ (or api/representation.py); a route "
        "parses, calls a service, represents",
    )


# --- the checks themselves --------------------------------------------------------------------


def test_the_import_checks_see_the_imports() -> None:
    found = {(imp.importer.name, imp.target) for imp in imports()}
    assert len(found) > 150  # every module's imports of ours, not a handful
    assert ("stations.storage.sqlite", "stations.storage.sqlstore") in found  # from x import Y
    assert layer_of("stations.services.uploads") == "stations.services"
    assert layer_of("stations.cli") == layer_of("stations.cli.tokens") == "stations.cli"
    assert layer_of("stationsx") is None
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert _strongly_connected(graph) == [["a", "b", "c"]]
    assert _shortest_cycle(graph, "a", {"a", "b", "c"}) == ["a", "b", "c", "a"]


def test_a_deferred_comment_justifies_an_import() -> None:
    source = (
        "def f():\n"
        "    # deferred: psycopg costs 40 ms at start-up (python -X importtime)\n"
        "    # and SQLite users never need it\n"
        "    import psycopg\n"
        "    import zipfile  # deferred: optional\n"
        "    import json\n"
    )
    module = Module(
        name="x",
        path=ROOT / "x.py",
        tree=ast.parse(source),
        lines=tuple(source.splitlines()),
    )
    function = module.tree.body[0]
    assert isinstance(function, ast.FunctionDef)
    assert [_justified(module, node) for node in function.body] == [True, True, False]


def test_the_readme_states_the_same_directions() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Architecture") :]
    rows = re.findall(r"^\| `([\w.]+)` \|[^|\n]*\| ([^|\n]+) \|$", section, re.M)
    stated: dict[str, set[str]] = {}
    for layer, may in rows:
        may = may.strip()
        if may == "nothing of ours":
            stated[layer] = set()
        elif may == "everything":
            stated[layer] = ALLOWED["api"]
        else:
            names = set(re.findall(r"`([\w.]+)`", may))
            if may.startswith("all of `stations`"):
                names = (names - {"stations"}) | _STATIONS_ALL
            stated[layer] = {n if n == "geodata" or "." in n else f"stations.{n}" for n in names}
    assert stated == {layer: may for layer, may in ALLOWED.items() if layer != "stations"}, (
        "the README's Architecture table and ALLOWED in tests/test_architecture.py disagree: "
        "change both together"
    )
