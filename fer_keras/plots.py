"""Figures for the experiments: confusion matrix, learning curves, samples, class balance.

Every plotting function is pure: it takes arrays or mappings and returns a
``matplotlib.figure.Figure``. ``save_figure`` writes a PNG atomically and closes it.
No backend is selected here, so notebooks keep ``inline`` and scripts get the default.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PIL import Image

from fer_keras.io import atomic_write_bytes
from fer_keras.predict.timeline import plot_emotion_timeline  # its home is the video report; kept here too

__all__ = [
    "palette_png",
    "plot_class_balance",
    "plot_confusion_matrix",
    "plot_emotion_timeline",
    "plot_history",
    "plot_sample_grid",
    "save_figure",
    "show_inline_as_palette_png",
]

_DPI = 100


def _normalize_rows(cm: np.ndarray) -> np.ndarray:
    """Divide each row by its sum; rows that sum to zero stay zero."""
    sums = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, sums, out=np.zeros_like(cm, dtype=float), where=sums != 0)


def _cm_annotations(cm: np.ndarray, fractions: np.ndarray | None) -> np.ndarray:
    """Cell labels: counts, or percentage over count when ``fractions`` is given."""
    if fractions is None:
        return np.vectorize(lambda n: f"{int(n):d}")(cm)
    cells = [f"{f * 100:.1f}%\n({int(n):d})" for f, n in zip(fractions.ravel(), cm.ravel(), strict=True)]
    return np.array(cells, dtype=object).reshape(cm.shape)


def plot_confusion_matrix(
    cm: Sequence[Sequence[int]] | np.ndarray,
    class_names: Sequence[str],
    *,
    normalize: bool = True,
    title: str | None = None,
) -> Figure:
    """Heatmap of a confusion matrix (rows true, columns predicted), annotated per cell."""
    counts = np.asarray(cm)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] != len(class_names):
        raise ValueError(f"confusion matrix of shape {counts.shape} does not match {len(class_names)} classes")
    fractions = _normalize_rows(counts) if normalize else None
    size = max(4.0, 0.9 * len(class_names) + 2.0)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    sns.heatmap(
        fractions if normalize else counts,
        annot=_cm_annotations(counts, fractions),
        fmt="",
        cmap="Blues",
        vmin=0.0,
        vmax=1.0 if normalize else None,
        xticklabels=list(class_names),
        yticklabels=list(class_names),
        square=True,
        cbar_kws={"label": "fraction of true class" if normalize else "count"},
        ax=ax,
    )
    ax.set_xlabel("Predicted")
    ax.set_ylabel("True")
    ax.tick_params(axis="x", rotation=45)
    ax.tick_params(axis="y", rotation=0)
    ax.set_title(title or ("Confusion matrix (row-normalised)" if normalize else "Confusion matrix"))
    fig.tight_layout()
    return fig


def _plot_curves(ax: plt.Axes, history: Mapping[str, Sequence[float]], key: str) -> None:
    """Draw ``key`` and ``val_<key>`` from ``history`` against 1-based epochs."""
    for name, label in ((key, "train"), (f"val_{key}", "validation")):
        values = history.get(name)
        if values is not None and len(values) > 0:
            ax.plot(range(1, len(values) + 1), list(values), marker="o", markersize=3, label=label)
    ax.set_xlabel("Epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(key.capitalize())
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()


def accuracy_gap(history: Mapping[str, Sequence[float]], epoch: int | None = None) -> float | None:
    """Train minus validation accuracy at 1-based ``epoch`` (default: the last), or None when either is missing."""
    train, val = history.get("accuracy"), history.get("val_accuracy")
    if not train or not val:
        return None
    index = -1 if epoch is None else min(epoch, len(train)) - 1
    return float(train[index]) - float(val[index])


def plot_history(
    history: Mapping[str, Sequence[float]], *, title: str | None = None, best_epoch: int | None = None
) -> Figure:
    """Loss and accuracy curves (train vs validation); the accuracy gap at ``best_epoch`` (else the last) in the title.

    ``best_epoch`` (1-based, the epoch whose weights were kept) is marked with a dashed line.
    """
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.6))
    _plot_curves(loss_ax, history, "loss")
    loss_ax.set_title("Loss")
    _plot_curves(acc_ax, history, "accuracy")
    gap = accuracy_gap(history, best_epoch)
    where = f"epoch {best_epoch}" if best_epoch else "final"
    gap_text = "no validation data" if gap is None else f"train−val gap at {where}: {gap * 100:+.1f} pts"
    acc_ax.set_title(f"Accuracy ({gap_text})")
    if best_epoch:
        for ax in (loss_ax, acc_ax):
            ax.axvline(best_epoch, color="grey", linestyle="--", linewidth=1, label="best epoch")
        acc_ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _as_pixels(images: np.ndarray) -> np.ndarray:
    """Return (N, H, W) grayscale or (N, H, W, 3) RGB float images in [0, 1] from float or uint8 input
    of shape (N, H, W), (N, H, W, 1) or (N, H, W, 3) (``imshow`` ignores its colour map for RGB)."""
    arr = np.asarray(images)
    if arr.ndim == 4 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 3 and not (arr.ndim == 4 and arr.shape[-1] == 3):
        raise ValueError(f"expected images of shape (N, H, W), (N, H, W, 1) or (N, H, W, 3), got {np.shape(images)}")
    if arr.dtype == np.uint8 or arr.max(initial=0) > 1.0:
        return arr.astype(np.float32) / 255.0
    return arr.astype(np.float32)


def plot_sample_grid(
    images: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    class_names: Sequence[str],
    *,
    per_class: int = 6,
    seed: int = 0,
    cell_inches: float = 1.3,
) -> Figure:
    """Grid of random examples: one row per class (row label = class name), ``per_class`` columns.

    ``cell_inches`` sets each image's size; about ``image pixels / dpi`` shows the images at their
    own resolution (smallest file).
    """
    pixels = _as_pixels(images)
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != len(pixels):
        raise ValueError(f"{len(pixels)} images but {len(labels)} labels")
    rng = np.random.default_rng(seed)
    n_rows, n_cols = len(class_names), max(1, per_class)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(cell_inches * n_cols + 1.2, cell_inches * n_rows), squeeze=False)
    for row, name in enumerate(class_names):
        candidates = np.flatnonzero(labels == row)
        chosen = rng.choice(candidates, size=min(n_cols, len(candidates)), replace=False)
        for col, ax in enumerate(axes[row]):
            if col < len(chosen):
                ax.imshow(pixels[chosen[col]], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
        axes[row][0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=10)
    fig.tight_layout()
    return fig


def _counts_frame(counts: Mapping[str, Mapping[str, int]]) -> pd.DataFrame:
    """Long DataFrame with columns split, class, count."""
    rows = [
        {"split": split, "class": name, "count": int(n)}
        for split, per_class in counts.items()
        for name, n in per_class.items()
    ]
    return pd.DataFrame(rows, columns=["split", "class", "count"])


def plot_class_balance(counts: Mapping[str, Mapping[str, int]]) -> Figure:
    """Grouped bar chart of images per class, one bar colour per split."""
    if not counts:
        raise ValueError("counts is empty")
    order = list(next(iter(counts.values())).keys())
    frame = _counts_frame(counts)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(order) + 3.0), 4))
    sns.barplot(data=frame, x="class", y="count", hue="split", order=order, hue_order=list(counts), ax=ax)
    ax.set_xlabel("Class")
    ax.set_ylabel("Images")
    ax.set_title("Images per class and split")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    return fig


def palette_png(fig: Figure, colors: int = 256, dpi: float | None = None) -> bytes:
    """``fig`` as PNG bytes with a ``colors``-entry palette (``dpi``: the figure's own when None).

    Heatmaps, curves and photo grids look the same at a fraction of the full-colour PNG's bytes.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi or fig.dpi, bbox_inches="tight")
    with Image.open(io.BytesIO(buffer.getvalue())) as image:
        out = io.BytesIO()
        image.convert("RGB").quantize(colors).save(out, format="PNG", optimize=True)
    return out.getvalue()


def show_inline_as_palette_png(colors: int = 128) -> bool:
    """In Jupyter/IPython, display matplotlib figures inline as palette PNGs (keeps saved notebooks small).

    Returns False (and does nothing) outside IPython.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    shell.display_formatter.formatters["image/png"].for_type(Figure, lambda fig: palette_png(fig, colors))
    return True


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Write ``fig`` as a PNG to ``path`` atomically (parents created), then close it."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())
