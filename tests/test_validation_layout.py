"""Layout of the validation suite and the static import graphs of ``refsde_validation`` and ``refsde``.

The modules are parsed with :mod:`ast`, never imported, and every ``import`` / ``from ... import`` that
names a module of the same package becomes an edge of its import graph; a cycle (a strongly connected
component of more than one module) fails.

* ``validation/`` (installed as ``refsde_validation``): every import counts, also those inside functions,
  so a lazy import cannot hide a circle; the top level holds only ``__init__.py`` and documents, every
  subdirectory is a package listed in pyproject.toml, and validation/README.md names every module.
* ``refsde/``: only the imports that run when a module is imported count (module level, class bodies,
  ``if`` / ``try`` blocks, and ``if TYPE_CHECKING:`` blocks, which a type checker follows); imports inside
  functions are lazy and allowed (a second test counts them too: refsde has no cycle even then).
  The library never imports the validation suite (the command line, refsde/cli.py, imports it lazily:
  it is the front end of ``refsde validate``).

An import ``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to ``pkg``
(its ``__init__``).  The parent packages a Python import also initialises are not edges: a package's
``__init__`` that imports its own submodules would otherwise be a cycle with each of them.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
VALIDATION = ROOT / "validation"
REFSDE = ROOT / "refsde"

def _modules(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under ``root`` (a package named ``package``)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        parts = [package, *rel.parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _import_nodes(tree: ast.Module, lazy: bool) -> list[ast.Import | ast.ImportFrom]:
    """The import statements of a module: all of them (``lazy``), or those that run at import time."""
    if lazy:
        return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue  # runs when called, not when imported
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append(child)
            visit(child)

    visit(tree)
    return found


def _graph(root: Path, package: str, lazy: bool) -> dict[str, set[str]]:
    """Import graph of ``package`` (module -> modules of the same package it imports)."""
    modules = _modules(root, package)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_pkg = path.name == "__init__.py"
        here = name if is_pkg else name.rpartition(".")[0]  # the package relative imports start from
        for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path)), lazy):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                if node.level:
                    base_parts = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                    base = ".".join(base_parts + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in targets:
                while target and target not in modules and "." in target:  # import a.b.c of a non-module c
                    target = target.rpartition(".")[0]
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strongconnect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return sorted(out)


def _describe(graph: dict[str, set[str]], cycles: list[list[str]]) -> str:
    lines = []
    for comp in cycles:
        edges = [f"{a} -> {b}" for a in comp for b in sorted(graph[a]) if b in comp]
        lines.append("cycle " + ", ".join(comp) + ": " + "; ".join(edges))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# the graph machinery itself
# ---------------------------------------------------------------------------------------------------
def test_graph_finds_lazy_and_type_checking_edges(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import a\n")
    (pkg / "sub" / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.sub.d import X\n")
    (pkg / "sub" / "d.py").write_text("import pkg.sub.c\nimport os\n")
    lazy, eager = _graph(pkg, "pkg", lazy=True), _graph(pkg, "pkg", lazy=False)
    assert lazy["pkg.a"] == {"pkg.sub.b"} and lazy["pkg.sub.b"] == {"pkg.a"}
    assert eager["pkg.sub.b"] == set()
    assert eager["pkg.sub.c"] == {"pkg.sub.d"} and eager["pkg.sub.d"] == {"pkg.sub.c"}
    assert _cycles(lazy) == [["pkg.a", "pkg.sub.b"], ["pkg.sub.c", "pkg.sub.d"]]
    assert _cycles(eager) == [["pkg.sub.c", "pkg.sub.d"]]


# ---------------------------------------------------------------------------------------------------
# validation/
# ---------------------------------------------------------------------------------------------------
def test_validation_has_no_import_cycle() -> None:
    graph = _graph(VALIDATION, "refsde_validation", lazy=True)
    assert len(graph) > 30
    assert graph["refsde_validation.checks.runner"] >= {"refsde_validation.checks.forward_sde",
                                                        "refsde_validation.checks.registry"}
    cycles = _cycles(graph)
    assert not cycles, _describe(graph, cycles)


def test_validation_package_inits_import_nothing_of_the_suite() -> None:
    graph = _graph(VALIDATION, "refsde_validation", lazy=True)
    for name in ("refsde_validation", "refsde_validation.checks", "refsde_validation.bench",
                 "refsde_validation.evidence", "refsde_validation.report"):
        assert graph[name] == set(), name


def test_validation_top_level_holds_only_subpackages() -> None:
    entries = {p.name for p in VALIDATION.iterdir() if p.name != "__pycache__"}
    files = {name for name in entries if (VALIDATION / name).is_file()}
    assert {f for f in files if f.endswith(".py")} == {"__init__.py"}
    assert files <= {"__init__.py", "README.md", "REPORT.md"}, files
    subpackages = sorted(entries - files)
    assert subpackages == ["bench", "checks", "evidence", "report"]
    for sub in subpackages:
        assert (VALIDATION / sub / "__init__.py").is_file(), sub
    with open(ROOT / "pyproject.toml", "rb") as fh:
        packages = tomllib.load(fh)["tool"]["setuptools"]["packages"]
    for sub in subpackages:
        assert f"refsde_validation.{sub}" in packages, sub


def test_validation_readme_indexes_every_module() -> None:
    readme = (VALIDATION / "README.md").read_text(encoding="utf-8")
    for path in sorted(VALIDATION.rglob("*.py")):
        rel = path.relative_to(VALIDATION)
        if rel.name in ("__init__.py", "__main__.py") and rel.parent != Path("."):
            continue  # a subpackage is indexed by its heading
        if rel == Path("__init__.py"):
            continue
        assert f"`{rel.name}`" in readme, f"validation/README.md does not list {rel}"


# ---------------------------------------------------------------------------------------------------
# refsde/
# ---------------------------------------------------------------------------------------------------
def test_refsde_has_no_import_cycle() -> None:
    graph = _graph(REFSDE, "refsde", lazy=False)
    assert len(graph) > 50 and graph["refsde.sde.base"] >= {"refsde.sde.reverse"}  # a module-level edge is seen
    cycles = _cycles(graph)
    assert not cycles, _describe(graph, cycles)


# Counting the lazy imports too: the old circle sde/base -> sde/reverse (inside a function) -> sde/base
# (TYPE_CHECKING) is gone (sde/reverse.py imports nothing from sde/base).
def test_refsde_has_no_import_cycle_even_through_lazy_imports() -> None:
    graph = _graph(REFSDE, "refsde", lazy=True)
    cycles = _cycles(graph)
    assert not cycles, _describe(graph, cycles)


def test_refsde_does_not_import_the_validation_suite() -> None:
    graph_modules = _modules(REFSDE, "refsde")
    for name, path in graph_modules.items():
        if name == "refsde.cli":
            continue
        for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8")), lazy=True):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            assert not any(n.split(".")[0] == "refsde_validation" for n in names), name
    cli = ast.parse((REFSDE / "cli.py").read_text(encoding="utf-8"))
    assert not [n for n in _import_nodes(cli, lazy=False) if isinstance(n, ast.ImportFrom)
                and (n.module or "").startswith("refsde_validation")], "cli.py imports the suite eagerly"
