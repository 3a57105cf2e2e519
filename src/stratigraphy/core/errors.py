"""Typed errors raised at the library's boundary, each naming what is wrong and how to fix it."""

from __future__ import annotations


class StratigraphyError(Exception):
    """Base class of every error stratigraphy raises on purpose."""


class DataValidationError(StratigraphyError, ValueError):
    """The data handed in has the wrong shape, dtype, values or labels."""


class ProbeBudgetError(StratigraphyError, ValueError):
    """The dataset is too small for the probe suites asked for."""


class RunDirectoryError(StratigraphyError):
    """The output directory holds a different run, or a run that cannot be resumed."""


class ConfigError(StratigraphyError, ValueError):
    """An option has a value outside what it accepts."""


class TrainingDivergedError(StratigraphyError):
    """Training produced a non-finite loss or logits; the epochs finished before are kept."""
