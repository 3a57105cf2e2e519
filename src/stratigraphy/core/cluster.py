"""Joining a Ray cluster: the one place Ray is imported from, and only by the engines that run
on it (``pip install "stratigraphy[ray]"``)."""

from __future__ import annotations

from typing import Any

from stratigraphy.core.errors import ConfigError


def require_ray() -> Any:
    """The ``ray`` module, or a clear error naming the extra to install."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError('The ray engine needs Ray: pip install "stratigraphy[ray]".') from exc
    return ray


def connect(address: str | None) -> Any:
    """Join the cluster at ``address`` (``auto``: the one ``ray start`` began on this machine),
    or start a local one; an already connected driver is kept."""
    ray = require_ray()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)  # fmt: skip
    return ray
