"""What pruning can rank by: every registered score with a pruning end, and a uniform draw. Kept
apart from :mod:`stratigraphy.curate.pruning` so the command line can list the choices without
loading a run's readers."""

from __future__ import annotations

from stratigraphy.analysis.scores import SCORES

RANDOM = "random"


def keep_high() -> dict[str, bool]:
    """Which end of each pruning score to keep, from the score registry (so a registered score
    is offered at once); ``random`` keeps a uniform draw."""
    ends = {n: s.prune_keep_high for n, s in SCORES.items() if s.prune_keep_high is not None}
    return {**ends, RANDOM: True}


def prune_scores() -> tuple[str, ...]:
    return tuple(keep_high())
