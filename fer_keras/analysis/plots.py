"""Figures of the analyses: reliability diagram, confident-mistakes gallery, occlusion overlays, 2-D embedding.

Pure functions from arrays to a ``matplotlib.figure.Figure``; save them with
:func:`fer_keras.plots.save_figure` (atomic PNG write), or the image galleries with
:func:`save_palette_figure`, which keeps them small enough to link from a model card.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from fer_keras.analysis.captions import format_probability
from fer_keras.io import atomic_write_bytes
from fer_keras.plots import _DPI, _as_pixels, palette_png

__all__ = ["plot_embedding", "plot_mistakes", "plot_occlusion_grid", "plot_reliability", "save_palette_figure"]

_RIGHT, _WRONG = "#1a7f37", "#c62828"


def _bare(ax: plt.Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _reliability_panel(acc_ax: plt.Axes, count_ax: plt.Axes, bins: pd.DataFrame, title: str) -> None:
    width = float(bins["upper"].iloc[0] - bins["lower"].iloc[0])
    filled = bins[bins["count"] > 0]
    acc_ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    acc_ax.bar(
        filled["lower"],
        filled["accuracy"],
        width=width,
        align="edge",
        color="#4c72b0",
        edgecolor="white",
        label="accuracy",
    )
    acc_ax.bar(
        filled["lower"],
        filled["confidence"] - filled["accuracy"],
        bottom=filled["accuracy"],
        width=width,
        align="edge",
        color="#dd8452",
        alpha=0.45,
        edgecolor="#dd8452",
        label="gap to confidence",
    )
    acc_ax.set_xlim(0, 1)
    acc_ax.set_ylim(0, 1)
    acc_ax.set_ylabel("Accuracy")
    acc_ax.set_title(title)
    acc_ax.legend(loc="upper left", fontsize=8)
    acc_ax.grid(True, alpha=0.3)
    count_ax.bar(bins["lower"], bins["count"], width=width, align="edge", color="grey", edgecolor="white")
    count_ax.set_xlim(0, 1)
    count_ax.set_xlabel("Confidence (max softmax probability)")
    count_ax.set_ylabel("Images")


def plot_reliability(
    bins: pd.DataFrame,
    ece: float,
    *,
    bins_after: pd.DataFrame | None = None,
    ece_after: float | None = None,
    temperature: float | None = None,
    title: str | None = None,
) -> Figure:
    """Reliability diagram (accuracy per confidence bin against the diagonal, image counts below).

    A second panel shows the bins after temperature scaling when ``bins_after`` is given.
    """
    panels = [(bins, f"Softmax: ECE {ece:.3f}")]
    if bins_after is not None:
        t_text = f"T={temperature:.2f}" if temperature is not None else "temperature scaled"
        panels.append((bins_after, f"Temperature-scaled ({t_text}): ECE {ece_after:.3f}"))
    fig, axes = plt.subplots(
        2,
        len(panels),
        figsize=(4.6 * len(panels), 5.2),
        squeeze=False,
        sharex=True,
        gridspec_kw={"height_ratios": [3, 1]},
    )
    for col, (panel_bins, panel_title) in enumerate(panels):
        _reliability_panel(axes[0][col], axes[1][col], panel_bins, panel_title)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_mistakes(
    images: np.ndarray, mistakes: pd.DataFrame, class_names: Sequence[str], *, cols: int = 6, title: str | None = None
) -> Figure:
    """Gallery of :func:`~fer_keras.analysis.confident_mistakes` rows: image, true and predicted class, confidence."""
    if mistakes.empty:
        fig, ax = plt.subplots(figsize=(5, 1.2))
        _bare(ax)
        ax.text(0.5, 0.5, "No mistakes on the test images", ha="center", va="center")
        return fig
    pixels = _as_pixels(np.asarray(images)[mistakes["index"].to_numpy()])
    cols = max(1, min(cols, len(mistakes)))
    rows = -(-len(mistakes) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 2.0 * rows + 0.4), squeeze=False, layout="constrained")
    for ax in axes.ravel():
        _bare(ax)
    for ax, pixel, (_, row) in zip(axes.ravel(), pixels, mistakes.iterrows(), strict=False):
        ax.imshow(pixel, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        true, predicted = class_names[int(row["true"])], class_names[int(row["predicted"])]
        ax.set_title(f"true {true}\npred {predicted} {format_probability(row['confidence'])}", fontsize=8, color=_WRONG)
    fig.suptitle(title or "Most confident mistakes (test split)", fontsize=10)
    return fig


def plot_occlusion_grid(
    images: np.ndarray,
    maps: Mapping[int, np.ndarray],
    rows: Sequence[Sequence[tuple[str, int | None]]],
    predicted: np.ndarray | Sequence[int],
    confidence: np.ndarray | Sequence[float],
    class_names: Sequence[str],
    *,
    title: str | None = None,
) -> Figure:
    """Occlusion maps over the faces: one row per true class, slots from :func:`~fer_keras.analysis.pick_examples`.

    Each map (probability drop of the predicted class, negatives clipped) is scaled to its
    own maximum and drawn over the image, its opacity growing with the importance; cell
    titles give the prediction and confidence, green when right, red when wrong.
    """
    n_cols = max((len(r) for r in rows), default=1)
    fig, axes = plt.subplots(
        len(rows), n_cols, figsize=(1.35 * n_cols + 0.9, 1.5 * len(rows) + 0.5), squeeze=False, layout="constrained"
    )
    heat_cmap = plt.get_cmap("jet")
    for r, row in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r][c]
            _bare(ax)
            kind, index = row[c] if c < len(row) else ("", None)
            if r == 0:
                ax.set_title(kind, fontsize=8, loc="left", color="grey", pad=12)
            if index is None:
                ax.text(
                    0.5, 0.5, f"no {kind}", transform=ax.transAxes, ha="center", va="center", fontsize=7, color="grey"
                )
                continue
            pixel = _as_pixels(np.asarray(images)[index : index + 1])[0]
            heat = np.clip(np.asarray(maps[index], dtype=float), 0.0, None)
            heat = heat / heat.max() if heat.max() > 0 else heat
            overlay = heat_cmap(heat)
            overlay[..., 3] = 0.65 * heat  # unimportant pixels stay clear, so the face shows through
            ax.imshow(pixel, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.imshow(overlay, interpolation="nearest")
            name = class_names[int(predicted[index])]
            ax.text(
                0.5,
                1.02,
                f"{name} {format_probability(confidence[index])}",
                transform=ax.transAxes,
                ha="center",
                va="bottom",
                fontsize=7,
                color=_RIGHT if kind == "correct" else _WRONG,
            )
        axes[r][0].set_ylabel(class_names[r], rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(
        title or "Occlusion sensitivity for the predicted class (red: hiding it lowers the probability)", fontsize=9
    )
    return fig


def plot_embedding(
    points: np.ndarray, labels: np.ndarray | Sequence[int], class_names: Sequence[str], *, title: str | None = None
) -> Figure:
    """Scatter of a 2-D embedding coloured by true class (tab10/tab20 colours, legend beside the plot)."""
    points, labels = np.asarray(points), np.asarray(labels, dtype=int)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) != len(labels):
        raise ValueError(f"expected (N, 2) points with N labels, got {points.shape} and {labels.shape}")
    cmap = plt.get_cmap("tab10" if len(class_names) <= 10 else "tab20")
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    size = 14 if len(points) <= 1000 else 6
    for index, name in enumerate(class_names):
        mask = labels == index
        ax.scatter(
            points[mask, 0], points[mask, 1], s=size, color=cmap(index), alpha=0.75, label=name, edgecolors="none"
        )
    _bare(ax)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, markerscale=1.5, frameon=False)
    ax.set_title(title or "Penultimate-layer features, 2-D embedding", fontsize=10)
    fig.tight_layout()
    return fig


def save_palette_figure(fig: Figure, path: str | os.PathLike, colors: int = 256) -> Path:
    """Write ``fig`` as a PNG with a ``colors``-entry palette, atomically (parents created), then close it.

    Photo grids (faces, occlusion overlays) take about half the bytes of
    :func:`fer_keras.plots.save_figure`'s full-colour PNG at the same size and dpi
    (the 7-class occlusion grid: 94 KB instead of 214 KB) and look the same.
    """
    try:
        data = palette_png(fig, colors, dpi=_DPI)
    finally:
        plt.close(fig)
    return atomic_write_bytes(path, data)
