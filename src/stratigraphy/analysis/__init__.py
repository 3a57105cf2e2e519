"""From dynamics to verdicts: signal sources, scores, trajectory features, inferers, the
mislabel choice, evaluation, seed averaging and the one engine."""
