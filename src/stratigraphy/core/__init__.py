"""Foundations every layer may use: typed errors, seeded random streams, chunked kNN, and the
one atomic writer."""
