"""The package layout holds: stages import only leftwards, no import cycles, thin __init__ files, short modules.

Every module of qgen is parsed (ast), never imported, so the checks also cover imports inside functions that no
test happens to run. The stage order is the data flow of ../shared/DESIGN.md:

    core < states < measurement < data < models < backends < train < metrics < report < reproduce

A module may import from core, from its own stage and from stages to its left. The top level (`qgen/__init__.py`,
`__main__.py`, the command line) may import anything; the compatibility aliases (`qgen/noise.py`, ...) only the
module they stand for; and a state's `measured()` method may import from measurement (the one arrow back,
DESIGN.md: "State.measured() is the one arrow back, imported lazily"), as may the TYPE_CHECKING block that
annotates it. Also checked: no import cycles (lazy imports included), `__init__.py` files hold only imports,
`__all__` and lazy re-exports, no module exceeds MAX_LINES, and every docstring Example is a doctest.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "qgen"

CORE = {"errors", "seeding", "strings", "files", "pauli", "devices", "estimate", "autocorrelation", "version"}
STAGES = ["states", "measurement", "data", "models", "backends", "train", "metrics", "report", "reproduce"]
# The command line and the package's public face sit above every stage.
TOP = {"qgen", "qgen.__main__", "qgen.cli"}  # and every module of the qgen.cli package
ALIASES = {
    "qgen.noise": "qgen.measurement.noise",
    "qgen.povm": "qgen.measurement.povm",
    "qgen.importers": "qgen.data.importers",
    "qgen.autotrain": "qgen.train.defaults",
    "qgen.evaluation": "qgen.report.evaluation",
    "qgen.plots": "qgen.report.plots",
}
MAX_LINES = 450

# Violations present when this check was written, reported to the lead (issue 9) and tolerated until fixed, so
# that the check bites on every new one. Each entry must still be a violation (test_known_violations_are_current):
# delete it with the fix.
KNOWN_BACK_IMPORTS: set[tuple[str, str]] = set()
KNOWN_LONG_MODULES: set[str] = set()


@dataclass(frozen=True)
class Import:
    """One import of a qgen module by another, as written in the source."""

    source: str  # the importing module, dotted
    target: str  # the imported module (a submodule when `from package import submodule`)
    line: int
    lazy: bool  # inside a function body: runs when the function is called, not at import
    type_checking: bool  # inside `if TYPE_CHECKING:`: never runs
    function: str | None  # the innermost enclosing function

    def __str__(self) -> str:
        where = f" in {self.function}()" if self.function else ""
        return f"{self.source}:{self.line}{where} imports {self.target}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


@cache
def tree(name: str) -> ast.Module:
    path = modules()[name]
    return ast.parse(path.read_text(), filename=str(path))


def _resolve(name: str, source: str, level: int, is_package: bool) -> str:
    """The absolute module name of `from <level dots><name> import ...` written in `source`."""
    if level == 0:
        return name
    base = source.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(source: str, module: ast.Module | None = None, is_package: bool | None = None) -> Iterator[Import]:
    """Every import of a qgen module in `source` (its parsed `module`, read from disk by default): import
    statements and importlib.import_module("constant")."""
    if is_package is None:
        is_package = modules()[source].name == "__init__.py"

    def visit(node: ast.AST, function: str | None, type_checking: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield from visit(child, child.name, type_checking)
                continue
            if isinstance(child, ast.Lambda):
                yield from visit(child, function or "<lambda>", type_checking)
                continue
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    yield from visit(ast.Module(body=[stmt], type_ignores=[]), function, True)
                for stmt in child.orelse:
                    yield from visit(ast.Module(body=[stmt], type_ignores=[]), function, type_checking)
                continue
            targets: list[str] = []
            if isinstance(child, ast.Import):
                targets = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = _resolve(child.module or "", source, child.level, is_package)
                for alias in child.names:
                    # `from qgen.data import reader` imports the submodule; `from qgen.data import load`, the package.
                    targets.append(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules() else base)
            elif (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and child.func.attr == "import_module"
                and child.args
                and isinstance(child.args[0], ast.Constant)
                and isinstance(child.args[0].value, str)
            ):
                targets = [child.args[0].value]
            for target in targets:
                if target == "qgen" or target.startswith("qgen."):
                    yield Import(source, target, child.lineno, function is not None, type_checking, function)
            yield from visit(child, function, type_checking)

    yield from visit(module or tree(source), None, False)


def test_imports_are_found_where_they_hide() -> None:
    code = """
from typing import TYPE_CHECKING
import numpy
import qgen.errors
from qgen.strings import as_outcomes
from . import dense
from ..measurement import povm
if TYPE_CHECKING:
    from qgen.models.base import GenerativeModel
class A:
    from qgen.files import atomic_write
    def measured(self):
        from qgen.measurement.dense import DenseMeasurement
        return importlib.import_module("qgen.report")
"""
    found = {
        (i.target, i.line, i.lazy, i.type_checking, i.function)
        for i in imports_of("qgen.states.x", ast.parse(code), False)
    }
    assert found == {
        ("qgen.errors", 4, False, False, None),
        ("qgen.strings", 5, False, False, None),
        ("qgen.states.dense", 6, False, False, None),
        ("qgen.measurement.povm", 7, False, False, None),
        ("qgen.models.base", 9, False, True, None),
        ("qgen.files", 11, False, False, None),
        ("qgen.measurement.dense", 13, True, False, "measured"),
        ("qgen.report", 14, True, False, "measured"),
    }


@cache
def all_imports() -> list[Import]:
    return [imp for name in modules() for imp in imports_of(name)]


def stage(module: str) -> str:
    """The layer a module belongs to: "core", a stage name, "top" or "alias"."""
    if module in TOP or module.startswith("qgen.cli."):
        return "top"
    if module in ALIASES:
        return "alias"
    parts = module.split(".")
    if len(parts) == 2 and parts[1] in CORE:
        return "core"
    if parts[1] in STAGES:
        return parts[1]
    raise AssertionError(f"{module} is in no layer: add it to CORE, STAGES, TOP or ALIASES in {__file__}")


def rank(module: str) -> int:
    layer = stage(module)
    if layer == "core":
        return 0
    if layer in STAGES:
        return 1 + STAGES.index(layer)
    return len(STAGES) + 1  # top and aliases: nothing below may import them


def allowed(imp: Import) -> bool:
    layer = stage(imp.source)
    if layer == "top":
        return True
    if layer == "alias":
        return imp.target == ALIASES[imp.source]
    if layer == "states" and stage(imp.target) == "measurement" and (imp.function == "measured" or imp.type_checking):
        return True  # the arrow back, and the annotations of measured()'s signature
    return rank(imp.target) <= rank(imp.source)


def test_every_module_is_in_a_layer() -> None:
    assert len(modules()) > 50  # the walk found the package
    for name in modules():
        stage(name)


def back_imports() -> list[Import]:
    return [imp for imp in all_imports() if imp.target in modules() and not allowed(imp)]


def test_stages_import_only_leftwards() -> None:
    bad = [
        f"{imp} ({stage(imp.source)} -> {stage(imp.target)})"
        for imp in back_imports()
        if (imp.source, imp.target) not in KNOWN_BACK_IMPORTS
    ]
    assert not bad, "imports against the data flow:\n" + "\n".join(bad)


def long_modules() -> dict[str, int]:
    sizes = {name: len(path.read_text().splitlines()) for name, path in modules().items()}
    return {name: n for name, n in sorted(sizes.items()) if n > MAX_LINES}


def test_known_violations_are_current() -> None:
    # A fixed violation leaves the list, so the list never hides a new one of the same kind.
    fixed = KNOWN_BACK_IMPORTS - {(imp.source, imp.target) for imp in back_imports()}
    fixed |= KNOWN_LONG_MODULES - set(long_modules())
    assert not fixed, f"fixed, so remove from KNOWN_BACK_IMPORTS / KNOWN_LONG_MODULES in {__file__}: {sorted(fixed)}"


def test_imports_name_existing_modules() -> None:
    # A stale path (a module that moved) would otherwise escape the layering check above.
    bad = [str(imp) for imp in all_imports() if imp.target not in modules()]
    assert not bad, "imports of modules that do not exist:\n" + "\n".join(bad)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (or a self-import), by Tarjan's algorithm."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges.get(v, ()):
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return found


def test_cycles_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a"}, "b": set()}) == [["a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("lazy", [False, True], ids=["module-level", "lazy-included"])
def test_no_import_cycles(lazy: bool) -> None:
    # Module level: a cycle breaks `import` outright. Lazy imports included (issue 9): a cycle through a
    # function-level import still ties two modules into one concept. TYPE_CHECKING imports never run.
    edges: dict[str, set[str]] = {}
    for imp in all_imports():
        if (lazy or not imp.lazy) and not imp.type_checking and imp.target != imp.source:
            edges.setdefault(imp.source, set()).add(imp.target)
    found = cycles(edges)
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def _is_literal(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
    except ValueError:
        return False
    return True


def _all_value(node: ast.expr) -> bool:
    # __all__ = ["a", "b", *_LAZY]: strings and unpacked names only.
    return isinstance(node, (ast.List, ast.Tuple)) and all(
        (isinstance(e, ast.Constant) and isinstance(e.value, str))
        or (isinstance(e, ast.Starred) and isinstance(e.value, ast.Name))
        for e in node.elts
    )


def init_logic(module: ast.Module, name: str) -> list[str]:
    """Statements of an __init__.py other than a docstring, imports, __all__, literal tables and lazy __getattr__."""
    bad = []
    for node in module.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test) and not node.orelse:
            if all(isinstance(stmt, (ast.Import, ast.ImportFrom)) for stmt in node.body):
                continue
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if len(names) == len(targets) and (
                _is_literal(node.value) or (names == ["__all__"] and _all_value(node.value))
            ):
                continue
        if isinstance(node, ast.FunctionDef) and node.name in ("__getattr__", "__dir__"):
            continue
        bad.append(f"{name}:{node.lineno}: {ast.unparse(node).splitlines()[0]}")
    return bad


def test_init_files_only_re_export() -> None:
    inits = [name for name, path in modules().items() if path.name == "__init__.py"]
    bad = [line for name in inits for line in init_logic(tree(name), name)]
    assert not bad, "logic in __init__.py (they hold imports, __all__ and lazy re-exports only):\n" + "\n".join(bad)


def test_init_check_rejects_logic() -> None:
    code = (
        '"""Doc."""\nimport a\nX = {"a": "qgen.b"}\n__all__ = ["a", *X]\ndef helper():\n    return 1\nY = compute()\n'
    )
    assert init_logic(ast.parse(code), "probe") == ["probe:5: def helper():", "probe:7: Y = compute()"]


def test_no_module_over_the_line_limit() -> None:
    bad = [f"{name}: {n} lines" for name, n in long_modules().items() if name not in KNOWN_LONG_MODULES]
    assert not bad, f"modules over {MAX_LINES} lines (split along the concept):\n" + "\n".join(bad)


def docstrings(name: str) -> Iterator[tuple[str, str]]:
    for node in ast.walk(tree(name)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc:
                yield getattr(node, "name", name), doc


def test_every_docstring_example_is_a_doctest() -> None:
    # `pytest --doctest-modules qgen` (in addopts) runs the `>>>` lines; an Example without them would not run.
    bad = []
    for name in modules():
        for owner, doc in docstrings(name):
            lines = doc.splitlines()
            for i, line in enumerate(lines):
                if line.strip() in ("Example:", "Examples:"):
                    section = []
                    for following in lines[i + 1 :]:
                        if following.strip() and not following.startswith(" "):
                            break
                        section.append(following)
                    if not any(s.strip().startswith(">>>") for s in section):
                        bad.append(f"{name}.{owner}" if owner != name else name)
    assert not bad, "docstring Examples that are not doctests (write them as >>> lines):\n" + "\n".join(bad)


@pytest.mark.parametrize(
    ("source", "target", "function", "ok"),
    [
        ("qgen.models.base", "qgen.data.dataset", None, True),
        ("qgen.data.dataset", "qgen.models.base", None, False),
        ("qgen.errors", "qgen.states.base", None, False),
        ("qgen.states.base", "qgen.measurement.dense", "measured", True),
        ("qgen.states.base", "qgen.measurement.dense", "sample", False),
        ("qgen.measurement.base", "qgen.states.base", None, True),
        ("qgen.noise", "qgen.measurement.noise", None, True),
        ("qgen.noise", "qgen.measurement.povm", None, False),
        ("qgen.cli", "qgen.reproduce", None, True),
        ("qgen.metrics.distances", "qgen", None, False),
    ],
)
def test_layer_rule(source: str, target: str, function: str | None, ok: bool) -> None:
    assert allowed(Import(source, target, 1, function is not None, False, function)) is ok
