"""Acting on verdicts: fixes, static pruning, the dynamic sampler, bootstrapped losses and the
review log."""
