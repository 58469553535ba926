"""The emotion timeline of a video: each class's probability for the largest face over time (a PNG)."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt

from fer_keras.io import atomic_write_bytes

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

DPI = 100


def plot_emotion_timeline(
    table: pd.DataFrame,
    class_names: Sequence[str],
    times: Sequence[float] | None = None,
    *,
    smooth: int = 5,
    title: str | None = None,
) -> Figure:
    """Probability of each class for the largest face (``face == 0``) of a video over ``time_s``.

    ``table`` is :func:`fer_keras.predict.video.analyze_video`'s. Curves are smoothed by a centred rolling
    mean over ``smooth`` analysed frames; analysed ``times`` without a face are left as gaps.
    """
    names = list(class_names)
    largest = table.loc[table["face"] == 0, ["time_s", *names]].set_index("time_s").sort_index()
    if times is not None:
        largest = largest.reindex(sorted(set(times) | set(largest.index)))
    smoothed = largest.rolling(max(1, smooth), center=True, min_periods=1).mean().where(largest.notna())
    fig, ax = plt.subplots(figsize=(10, 4))
    missing = largest.isna().all(axis=1)
    if missing.any():  # analysed frames without a face: a grey band
        ax.fill_between(largest.index, 0, 1, where=missing.to_numpy(), step="mid", color="0.9", label="no face")
    for index, name in enumerate(names):
        colour = plt.get_cmap("tab10")(index % 10)  # seaborn's "tab10" palette: the same colours
        ax.plot(smoothed.index, smoothed[name], label=name, color=colour, linewidth=1.6)
    if largest.dropna().empty:
        ax.text(0.5, 0.5, "No face found", transform=ax.transAxes, ha="center", va="center", color="grey")
    ax.set_ylim(0, 1)
    ax.set_xlabel("Time (s)")
    ax.set_ylabel("Probability (largest face)")
    ax.set_title(title or "Emotions over time")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    return fig


def save_png(fig: Figure, path: str | os.PathLike) -> Path:
    """Write ``fig`` as a PNG to ``path`` atomically (parents created), then close it."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())


__all__ = ["plot_emotion_timeline", "save_png"]
