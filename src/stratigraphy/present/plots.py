"""Figures for the report and the review page, rendered with matplotlib to PNG data URIs."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import matplotlib.image
import numpy as np
from matplotlib.figure import Figure

from stratigraphy.core.seeding import stream
from stratigraphy.probes.suites import SUITES, UNSCORED, UNSCORED_COLOUR, suite_info

MAX_SCATTER = 20_000


def kind_colour(kind: str, kinds: Sequence[str] = ()) -> str:
    """A kind's colour from the suite registry; user suites take the next free extra colour."""
    if kind == UNSCORED:
        return UNSCORED_COLOUR
    if kind in SUITES:
        return SUITES[kind].colour
    return suite_info(kind, tuple(k for k in kinds if k not in SUITES)).colour


def png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def input_png(x: np.ndarray) -> bytes | None:
    """An example's input as a small greyscale (or RGB) PNG at native size; None for vectors."""
    if x.ndim != 3:
        return None
    img = x[0] if x.shape[0] == 1 else np.transpose(x[:3], (1, 2, 0))
    buf = io.BytesIO()
    matplotlib.image.imsave(buf, np.clip(img, 0, 1), cmap="gray_r", vmin=0, vmax=1, format="png")
    return buf.getvalue()


def data_map(
    variability: np.ndarray, confidence: np.ndarray, kinds: np.ndarray, seed: int = 0
) -> bytes:
    """Dataset Cartography's map: confidence against variability, coloured by inferred kind."""
    keep = np.flatnonzero(kinds != UNSCORED)
    if keep.size > MAX_SCATTER:
        keep = np.sort(stream(seed, "data-map").choice(keep, MAX_SCATTER, replace=False))
    fig = Figure(figsize=(6.5, 5))
    ax = fig.subplots()
    present = list(dict.fromkeys(kinds[keep].tolist()))
    for kind in sorted(present, key=lambda k: k == "typical", reverse=True):
        sel = keep[kinds[keep] == kind]
        ax.scatter(
            variability[sel],
            confidence[sel],
            s=6,
            alpha=0.6,
            label=f"{kind} ({sel.size})",
            color=kind_colour(kind, present),
            linewidths=0,
        )
    ax.set_xlabel("variability (std of p(label) over epochs)")
    ax.set_ylabel("confidence (mean p(label))")
    ax.set_title("Data map" + (f" ({keep.size:,} shown)" if keep.size < kinds.size else ""))
    ax.legend(markerscale=3, fontsize=8, loc="lower right")
    return png_bytes(fig)


def mean_trajectories(groups: dict[str, np.ndarray], title: str) -> bytes:
    """Mean loss per epoch of each group with an inter-quartile band."""
    fig = Figure(figsize=(6.5, 4))
    ax = fig.subplots()
    names = list(groups)
    for name, traj in groups.items():
        if traj.shape[0] == 0:
            continue
        t = traj.astype(np.float32)
        epochs = np.arange(1, t.shape[1] + 1)
        colour = kind_colour(name, names)
        ax.plot(epochs, np.nanmean(t, 0), color=colour, label=f"{name} ({t.shape[0]})")
        lo, hi = np.nanpercentile(t, [25, 75], axis=0)
        ax.fill_between(epochs, lo, hi, color=colour, alpha=0.15, linewidth=0)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return png_bytes(fig)


def confusion(matrix: np.ndarray, labels: Sequence[str], title: str) -> bytes:
    """A confusion matrix with counts in the cells, normalised colour per true row."""
    m = np.asarray(matrix, dtype=float)
    norm = m / np.maximum(m.sum(1, keepdims=True), 1)
    fig = Figure(figsize=(0.7 * len(labels) + 2, 0.6 * len(labels) + 1.5))
    ax = fig.subplots()
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(
                j,
                i,
                f"{int(m[i, j])}",
                ha="center",
                va="center",
                color="white" if norm[i, j] > 0.6 else "black",
                fontsize=9,
            )
    ax.set_xlabel("inferred suite")
    ax.set_ylabel("true suite (held-out probes)")
    ax.set_title(title)
    return png_bytes(fig)


def sparkline_svg(
    own: np.ndarray,
    neighbours: np.ndarray,
    neighbour_kinds: Sequence[str],
    top: float | None = None,
    width: int = 240,
    height: int = 96,
) -> str:
    """One example's loss trajectory (black) over its nearest fitting probes' as inline SVG, with
    axes: loss from 0 to ``top`` (one scale for every card of a report, so cards compare) against
    epoch. A few hundred bytes, crisp at any zoom, cheap enough for every gallery card."""
    series = np.nan_to_num(np.vstack([neighbours, own[None, :]]).astype(np.float32))
    top = max(float(top if top is not None else series.max()), 1e-6)
    left, bottom, pad = 30, 16, 4
    n = series.shape[1]
    xs = np.linspace(left, width - pad, n) if n > 1 else np.full(1, (left + width) / 2)
    ys = height - bottom - (height - bottom - pad) * np.clip(series, 0, top) / top
    kinds = list(dict.fromkeys(neighbour_kinds))
    lines = []
    for i, row in enumerate(ys):
        last = i == ys.shape[0] - 1
        colour = "#000" if last else kind_colour(neighbour_kinds[i], kinds)
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, row, strict=True))
        lines.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="{1.8 if last else 0.9}" '
            f'stroke-opacity="{1 if last else 0.6}" points="{pts}"/>'
        )
    base, font = height - bottom, 'font-size="9" fill="#555" font-family="sans-serif"'
    axes = (
        f'<path d="M{left},{pad} V{base} H{width - pad}" stroke="#888" fill="none"/>'
        f'<text x="{left - 3}" y="{pad + 7}" text-anchor="end" {font}>{top:.2g}</text>'
        f'<text x="{left - 3}" y="{base}" text-anchor="end" {font}>0</text>'
        f'<text x="{left}" y="{height - 4}" {font}>1</text>'
        f'<text x="{width - pad}" y="{height - 4}" text-anchor="end" {font}>{n}</text>'
        f'<text x="{(left + width) / 2:.0f}" y="{height - 4}" text-anchor="middle" {font}>'
        "epoch</text>"
        f'<text x="9" y="{base / 2:.0f}" text-anchor="middle" {font} '
        f'transform="rotate(-90 9 {base / 2:.0f})">loss</text>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img"><title>loss per epoch (0 to {top:.2f}): this example in '
        "black, its nearest probes coloured by kind</title>"
        f'<rect width="{width}" height="{height}" fill="#fff" stroke="#dfe3e6"/>'
        + axes
        + "".join(lines)
        + "</svg>"
    )
