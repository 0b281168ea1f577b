"""The house's shape (GUIDE §3, docs/architecture.md): no import cycle between modules, and no
product module grown past 600 lines. The layers themselves are import-linter's contracts in
pyproject.toml (`make lint`)."""

from __future__ import annotations

import sys
import tomllib

import grimp

from tests.conftest import REPO

LONGEST = 600


def _packages() -> list[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    roots: list[str] = config["tool"]["importlinter"]["root_packages"]
    return roots


def test_the_contracts_name_every_package_of_ours() -> None:
    ours = {p.parent.name for p in REPO.glob("*/__init__.py")} - {"tests", "bench", "tools"}
    assert ours == set(_packages())


def test_no_module_imports_itself_round_a_cycle() -> None:
    graph = grimp.build_graph(*_packages(), exclude_type_checking_imports=True)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    assert not cycles, f"modules importing each other round a cycle: {cycles}"


def test_no_product_module_is_over_600_lines() -> None:
    shipped = [p for p in _packages() if p != "simulator"]
    long = {
        str(path.relative_to(REPO)): n
        for package in shipped
        for path in (REPO / package).rglob("*.py")
        if (n := len(path.read_text().splitlines())) > LONGEST
    }
    assert not long, f"modules over {LONGEST} lines: {long}"
