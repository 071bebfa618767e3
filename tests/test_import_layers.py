"""The package's import structure (issue 10 § 2): layers that only import downwards, no loops.

Every module under src/mevauction is parsed with ``ast``; every ``import`` and
``from … import`` of the package counts, at module level or inside a function. Two rules:

- no import cycle between modules. Imports under ``if TYPE_CHECKING:`` never run, so
  they cannot make an import-time loop and are left out of this rule (they are how a
  module names the type of a module that imports it, e.g. worlds/amm/state.py);
- no package imports a layer above its own, and siblings in an independent layer
  (``a | b``) do not import each other. Type-only imports count here: naming a type
  of an upper layer is still depending on it.

Imports made from strings (``importlib.import_module``: the world and builder
registries, the CLI's subcommands) are not seen; nor are they by import-linter.
The same layers are the import-linter contract in pyproject.toml (``lint-imports``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from repo_paths import SRC

PACKAGE = "mevauction"

# Lowest first. ``independent``: the members must not import each other.
# ``""`` is the package's own __init__ (it holds only the version); __main__ only calls
# the cli. ``eth`` and ``errors`` are the bottom: eth imports nothing else of the package.
LAYERS: tuple[tuple[tuple[str, ...], bool], ...] = (
    (("",), True),
    (("eth",), True),
    (("errors",), True),  # re-exports eth's InputError with the package's input helpers
    (("chain",), True),  # the devnet node and its JSON-RPC: the evm world forks from it
    (("worlds",), True),
    (("building", "sandbox"), True),
    (("mechanism",), True),
    (("settlement",), True),
    (("intake",), True),
    (("privacy", "preconf", "evaluation", "delivery"), True),
    (("service", "client"), True),
    (("cli", "__main__"), False),
)

# Accepted layering violations, (importer, imported), each with its reason; a stale
# entry fails test_known_violations_are_still_there.
KNOWN_VIOLATIONS: frozenset[tuple[str, str]] = frozenset()  # none left: keep it that way


@dataclass(frozen=True, slots=True)
class Import:
    importer: str
    imported: str
    line: int
    type_only: bool  # under ``if TYPE_CHECKING:``

    def where(self, root: Path) -> str:
        return f"{module_path(root, self.importer)}:{self.line}"


def module_names(root: Path) -> dict[str, Path]:
    """Dotted module name → file, for every module of the package under ``root``."""
    names = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def module_path(root: Path, name: str) -> str:
    return str(module_names(root)[name].relative_to(root.parent))


def is_type_checking_guard(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_names(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool,
                   modules: dict[str, Path]) -> list[str]:
    """The package's modules an import statement names (``from m import x``: m.x if a module, else m)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: resolved against the importer's package
        package = importer.split(".") if is_package else importer.split(".")[:-1]
        anchor = package[:len(package) - node.level + 1]
        base = ".".join(anchor + ([node.module] if node.module else []))
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    found: list[Import] = []

    def visit(node: ast.AST, type_only: bool) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for target in imported_names(node, name, path.name == "__init__.py", modules):
                if target in modules and target != name:
                    found.append(Import(name, target, node.lineno, type_only))
        guarded = isinstance(node, ast.If) and is_type_checking_guard(node)
        for field, value in ast.iter_fields(node):
            children = value if isinstance(value, list) else [value]
            for child in children:
                if isinstance(child, ast.AST):
                    # only the body of ``if TYPE_CHECKING:`` is type-only, not its ``else``
                    visit(child, type_only or (guarded and field == "body"))

    visit(ast.parse(path.read_text(), str(path)), False)
    return found


def import_graph(root: Path) -> list[Import]:
    """Every import of one module by another (one per statement and target)."""
    modules = module_names(root)
    return sorted({imp for name, path in modules.items() for imp in imports_of(name, path, modules)},
                  key=lambda imp: (imp.importer, imp.line, imp.imported))


def loops(imports: list[Import]) -> list[tuple[list[str], list[str]]]:
    """Per group of modules that import each other round a loop: a shortest cycle (first
    module repeated at the end) and all the modules of the group."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        graph.setdefault(imp.importer, set()).add(imp.imported)
        graph.setdefault(imp.imported, set())
    found = []
    for group in strongly_connected(graph):
        if len(group) > 1:
            found.append((cycle_through(min(group), graph, group), sorted(group)))
    return sorted(found)


def cycles(imports: list[Import]) -> list[list[str]]:
    return [cycle for cycle, _ in loops(imports)]


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative (no recursion limit on a deep import chain)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    groups.append(group)
    return groups


def cycle_through(start: str, graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest path from ``start`` back to itself inside its strongly connected group."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for succ in sorted(graph[node] & group):
                if succ == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if succ not in previous:
                    previous[succ] = node
                    following.append(succ)
        frontier = following
    raise AssertionError(f"{start} is in no cycle")  # unreachable for a group of two or more


def package_of(module: str) -> str:
    """The top-level subpackage or module a module belongs to ("" for the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer_of(package: str) -> int:
    for number, (members, _) in enumerate(LAYERS):
        if package in members:
            return number
    raise KeyError(package)


def layer_violations(imports: list[Import]) -> list[Import]:
    """Imports of a higher layer, or of an independent sibling."""
    wrong = []
    for imp in imports:
        low, high = package_of(imp.importer), package_of(imp.imported)
        if low == high:
            continue
        importer_layer, imported_layer = layer_of(low), layer_of(high)
        if imported_layer > importer_layer or (imported_layer == importer_layer and LAYERS[importer_layer][1]):
            wrong.append(imp)
    return wrong


def describe(imp: Import, root: Path) -> str:
    return f"{imp.importer} -> {imp.imported}  ({imp.where(root)}{', type-only' if imp.type_only else ''})"


# -- the package ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def graph() -> list[Import]:
    return import_graph(SRC)


def test_every_package_has_a_layer(graph):
    packages = {package_of(name) for name in module_names(SRC)}
    unplaced = sorted(p for p in packages if not any(p in members for members, _ in LAYERS))
    assert not unplaced, f"add these to LAYERS (and to the import-linter contract): {unplaced}"


def test_no_import_cycles(graph):
    found = loops([imp for imp in graph if not imp.type_only])
    assert not found, "import cycles:\n" + "\n".join(
        f"{' -> '.join(cycle)}  (the loop's modules: {', '.join(group)})" for cycle, group in found)


def test_packages_import_only_lower_layers(graph):
    wrong = [imp for imp in layer_violations(graph) if (imp.importer, imp.imported) not in KNOWN_VIOLATIONS]
    assert not wrong, "imports against the layering:\n" + "\n".join(describe(imp, SRC) for imp in wrong)


def test_known_violations_are_still_there(graph):
    present = {(imp.importer, imp.imported) for imp in layer_violations(graph)}
    stale = sorted(KNOWN_VIOLATIONS - present)
    assert not stale, f"fixed, so remove from KNOWN_VIOLATIONS (and pyproject's ignore_imports): {stale}"


# -- the checker itself, on a made-up package --------------------------------------------------

def write_package(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / PACKAGE / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_checker_finds_a_cycle_through_a_function_level_import(tmp_path):
    write_package(tmp_path, {
        "__init__.py": "",
        "service/__init__.py": "",
        "service/config.py": "def check():\n    from mevauction.service.preconf import build\n",
        "service/preconf.py": "from mevauction.service import engine\n",
        "service/engine.py": "from .config import check\n",
    })
    assert cycles(import_graph(tmp_path)) == [["mevauction.service.config", "mevauction.service.preconf",
                                               "mevauction.service.engine", "mevauction.service.config"]]


def test_checker_leaves_type_checking_imports_out_of_cycles_but_not_out_of_layers(tmp_path):
    write_package(tmp_path, {
        "__init__.py": "",
        "worlds/__init__.py": "",
        "worlds/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mevauction.worlds.b import B\n"
                       "    from mevauction.cli import main\nelse:\n    import mevauction.errors\n",
        "worlds/b.py": "import mevauction.worlds.a\n",
        "errors.py": "",
        "cli.py": "",
    })
    graph = import_graph(tmp_path)
    assert cycles([imp for imp in graph if not imp.type_only]) == []
    assert cycles(graph) == [["mevauction.worlds.a", "mevauction.worlds.b", "mevauction.worlds.a"]]
    assert [(imp.imported, imp.type_only) for imp in layer_violations(graph)] == [("mevauction.cli", True)]
    assert not next(imp for imp in graph if imp.imported == "mevauction.errors").type_only


def test_checker_refuses_siblings_of_an_independent_layer(tmp_path):
    write_package(tmp_path, {
        "__init__.py": "",
        "client.py": "from mevauction.service.signing import sign\n",
        "service/__init__.py": "",
        "service/signing.py": "from mevauction import errors\n",
        "errors.py": "",
        "__main__.py": "from mevauction.cli import main\n",
        "cli.py": "import mevauction.client\n",
    })
    assert [(imp.importer, imp.imported) for imp in layer_violations(import_graph(tmp_path))] == [
        ("mevauction.client", "mevauction.service.signing")]
