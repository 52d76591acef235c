"""The layout's rules that import-linter's contracts (pyproject.toml) do not express:
no import cycle between any two modules, counting the package `__init__` an import loads on
the way (importing `abacus.x.y` runs `abacus/x/__init__.py` first), and a top level that
holds only the application shell. Built on grimp, the graph import-linter itself uses;
imports under TYPE_CHECKING do not count (they never run)."""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

import grimp
import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "abacus"

# The application shell: what may stay at the top of abacus/ (README, "Design").
SHELL = {"__init__", "config", "extensions", "models", "observability", "embedded",
         "devserver", "jobs"}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("abacus", exclude_type_checking_imports=True, cache_dir=None)


def _edges(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    """Direct imports plus, for each, the packages whose `__init__` the import runs (the root
    package is the app factory: every module is under it, so it is left out)."""
    edges: dict[str, set[str]] = {m: set() for m in graph.modules}
    for module in graph.modules:
        for target in graph.find_modules_directly_imported_by(module):
            edges[module].add(target)
            parts = target.split(".")
            for depth in range(2, len(parts)):
                package = ".".join(parts[:depth])
                if package != module:
                    edges[module].add(package)
    return edges


def _path(edges: dict[str, set[str]], start: str, goal: str) -> list[str] | None:
    """A shortest import chain from start to goal (breadth first), or None."""
    before: dict[str, str | None] = {start: None}
    todo = deque([start])
    while todo:
        here = todo.popleft()
        for nxt in sorted(edges[here]):
            if nxt in before:
                continue
            before[nxt] = here
            if nxt == goal:
                chain = [goal]
                while before[chain[-1]] is not None:
                    chain.append(before[chain[-1]])  # type: ignore[arg-type]
                return chain[::-1]
            todo.append(nxt)
    return None


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Each import A -> B for which B leads back to A, as the closed chain A -> B -> … -> A."""
    cycles = []
    for module in sorted(edges):
        for target in sorted(edges[module]):
            back = _path(edges, target, module)
            if back is not None:
                cycles.append([module, *back])
    return cycles


def test_no_module_imports_lead_back_to_themselves(graph):
    cycles = find_cycles(_edges(graph))
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_cycle_check_finds_a_cycle_through_a_package_init():
    """The check itself: a module importing a sibling whose package __init__ imports the
    module back is a cycle even though no module imports the other directly."""
    edges = _edges_of({"abacus.pkg": {"abacus.pkg.a"}, "abacus.pkg.a": {"abacus.pkg.b"},
                       "abacus.pkg.b": set()})
    assert find_cycles(edges)[0] == ["abacus.pkg", "abacus.pkg.a", "abacus.pkg"]
    assert not find_cycles(_edges_of({"abacus.a": {"abacus.b"}, "abacus.b": set()}))


def _edges_of(imports: dict[str, set[str]]) -> dict[str, set[str]]:
    fake = grimp.ImportGraph()
    for module in imports:
        fake.add_module(module)
    for module, targets in imports.items():
        for target in targets:
            fake.add_import(importer=module, imported=target)
    return _edges(fake)


def test_the_top_level_holds_only_the_application_shell():
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert modules <= SHELL, f"move {sorted(modules - SHELL)} into a domain package"


def test_every_package_says_its_job_and_what_it_may_import():
    for init in sorted(PACKAGE.rglob("__init__.py")):
        if init.parent == PACKAGE:
            continue
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "May import" in doc, f"{init.relative_to(PACKAGE.parent)}: docstring must say " \
                                    "its job and what it may import"
