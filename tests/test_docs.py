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

import pytest

from .docblocks import DOCS, NEEDS, python_blocks, run_blocks


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
    if not python_blocks(path):
        pytest.skip(f"{path.name} has no Python block")
    (tmp_path / "runs").mkdir()
    shutil.copytree(digits_run.out, tmp_path / "runs" / "digits")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    ran = run_blocks(path)
    assert ran, f"no block of {path.name} ran"
    assert os.getcwd() == str(tmp_path)
