"""The README's commands and its library example are what a newcomer runs: keep them true."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_opens_with_the_two_fresh_machine_commands():
    first, second = _blocks("bash")[:2]
    assert "pip install ." in first and "strat run" in first
    assert ".[dev]" in second and "pytest" in second


def test_the_training_loop_example_runs_as_written(capsys):
    example = next(b for b in _blocks("python") if "DynamicsRecorder" in b)
    namespace: dict = {}
    exec(compile(example, str(README), "exec"), namespace)
    result = namespace["result"]
    assert len(namespace["examples"]) == 1797
    assert result.summary["detection"]["scores"]["mislabel_score"]["auroc"] > 0.9
    assert "planted errors in the top k" in capsys.readouterr().out
