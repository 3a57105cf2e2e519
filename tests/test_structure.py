"""The package's shape: layers that import only downward, no import cycle, small functions, and
an ``import stratigraphy`` that loads nothing heavy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import stratigraphy

PACKAGE = Path(stratigraphy.__file__).parent
# Lowest first: a module may import its own layer and the ones before it, never a later one.
LAYERS = ["core", "data", "probes", "record", "rundir", "analysis", "issues", "curate", "present"]
TOP = {"config": 8, "folds": 9, "job": 9, "cli": 10, "__main__": 11, "__init__": 12}
MAX_FUNCTION_LINES = 60


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Every module's imports of other stratigraphy modules, at any depth of the file."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                base = node.module
                if node.level:
                    package = (
                        name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                    )
                    base = ".".join([*package[: len(package) - node.level + 1], node.module])
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            found |= {t for t in targets if t in modules and t != name}
        graph[name] = found
    return graph


def _layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return TOP["__init__"]
    if parts[1] in LAYERS:
        return LAYERS.index(parts[1])
    return TOP[parts[1]]


def test_every_module_belongs_to_a_layer() -> None:
    for module in _imports():
        assert _layer(module) >= 0, module


def test_no_import_goes_up_a_layer() -> None:
    upward = [
        f"{a} imports {b}"
        for a, targets in _imports().items()
        for b in targets
        if _layer(b) > _layer(a) and not b.startswith(a + ".")
    ]
    assert upward == []


def test_no_import_cycle() -> None:
    graph = _imports()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if nxt.startswith(node + "."):
                continue  # a package importing its own sub-module is not a cycle
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The layer test would fail on a lower layer importing a higher one."""
    assert _layer("stratigraphy.rundir.view") < _layer("stratigraphy.job")
    assert _layer("stratigraphy.core.knn") < _layer("stratigraphy.analysis.engine")
    graph = _imports()
    assert "stratigraphy.analysis.engine" in graph["stratigraphy.job"]


def test_no_function_over_60_lines() -> None:
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.name} ({n} lines)")
    assert long == []


def test_import_stratigraphy_is_light_and_has_no_side_effect() -> None:
    code = (
        "import sys, stratigraphy;"
        "heavy = ['matplotlib', 'fastapi', 'stratigraphy.job', 'torch', 'sklearn'];"
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_command_line_answers_help_without_loading_the_engine() -> None:
    """``strat --help`` and each command's help load no heavy library: the commands import
    what they work with when they run."""
    code = (
        "import sys; from typer.testing import CliRunner; from stratigraphy.cli import app;"
        "r = CliRunner();"
        "codes = [r.invoke(app, [*c, '--help']).exit_code for c in"
        " ([], ['run'], ['fix'], ['prune'], ['report'], ['analyze'], ['review'])];"
        "heavy = ['matplotlib', 'fastapi', 'stratigraphy.job', 'torch', 'sklearn', 'pandas'];"
        "print(codes, [m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[0, 0, 0, 0, 0, 0, 0] []"


def test_public_api_resolves_every_name() -> None:
    for name in stratigraphy.__all__:
        assert getattr(stratigraphy, name) is not None, name
    assert "mislabel_candidates" not in stratigraphy.__all__
    assert {"PruningSampler", "plan_fixes", "analyze", "run"} <= set(stratigraphy.__all__)
