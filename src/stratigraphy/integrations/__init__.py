"""Recording from the training loops users already have; each module imports its framework."""
