"""The house's shape, read from the source: no import cycle between app's packages, nothing below
`app/api` knows HTTP, and no SQL in `app/api` (docs/architecture.md).

Every import counts, a function-local one too: a cycle hidden inside a function is still a cycle.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from app.db.migrate import PROJECT_ROOT

APP = PROJECT_ROOT / "app"
# The web layer and the commands that start things; everything else is "below the API".
TOP = {"api", "cli", "cli_import", "entry", "server"}
HTTP_LIBRARIES = ("fastapi", "starlette", "uvicorn")


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(APP.rglob("*.py")):
        parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(path: Path) -> list[tuple[str, int]]:
    """Every module `path` imports (absolute names), with its line."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
            # `from app import search`: the package imported is app.search
            found += [(f"{node.module}.{alias.name}", node.lineno) for alias in node.names if node.module == "app"]
    return found


def package_of(module: str) -> str:
    """`app.crud.document` -> `crud`; `app.cli` -> `cli`."""
    return module.split(".")[1] if module.count(".") else module


def package_graph() -> dict[str, dict[str, list[str]]]:
    """package -> package it imports -> where (`path:line`)."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for name, path in _modules().items():
        source = package_of(name)
        for imported, line in _imports(path):
            if imported.startswith("app.") and package_of(imported) != source:
                graph[source][package_of(imported)].append(f"{path.relative_to(PROJECT_ROOT)}:{line}")
    return graph


def cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Each cycle of packages once (as the path around it, from its smallest name)."""
    found: set[tuple[str, ...]] = set()

    def walk(start: str, node: str, path: list[str]) -> None:
        for nxt in graph.get(node, {}):
            if nxt == start:
                found.add(tuple(path))
            elif nxt not in path and nxt > start:
                walk(start, nxt, [*path, nxt])

    for start in graph:
        walk(start, start, [start])
    return [list(cycle) for cycle in sorted(found)]


def test_no_import_cycle_between_packages() -> None:
    graph = package_graph()
    described = []
    for cycle in cycles(graph):
        steps = zip(cycle, [*cycle[1:], cycle[0]], strict=True)
        described.append(" -> ".join([*cycle, cycle[0]]) + ": " + "; ".join(graph[a][b][0] for a, b in steps))

    assert described == []


def test_the_cycle_check_finds_a_cycle() -> None:
    graph = {"crud": {"search": ["x:1"]}, "search": {"crud": ["y:2"]}, "api": {"crud": ["z:3"]}}

    assert cycles(graph) == [["crud", "search"]]


def _offending(modules: dict[str, Path], wanted: tuple[str, ...], allowed: tuple[str, ...] = ()) -> list[str]:
    return [
        f"{path.relative_to(PROJECT_ROOT)}:{line} imports {imported}"
        for name, path in modules.items()
        for imported, line in _imports(path)
        if imported.split(".")[0] in wanted and imported not in allowed
    ]


def test_nothing_below_the_api_imports_http() -> None:
    below = {name: path for name, path in _modules().items() if package_of(name) not in TOP}

    assert _offending(below, HTTP_LIBRARIES) == []


def test_the_api_holds_no_sql() -> None:
    """Routes and their dependencies hand the request's unit of work (an AsyncSession) to the
    layers below; they build no statement, and read no database error themselves."""
    api = {name: path for name, path in _modules().items() if package_of(name) == "api"}

    assert _offending(api, ("sqlalchemy",), allowed=("sqlalchemy.ext.asyncio",)) == []
