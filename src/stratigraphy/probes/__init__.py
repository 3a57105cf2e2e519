"""Probe suites: the suite registry, choosing and building probes, typicality, and the wrapper
that mixes probes into a user's own dataset."""
