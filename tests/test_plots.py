"""Tests for fer_keras.plots (synthetic inputs; no data sets, no TensorFlow)."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from fer_keras.plots import (
    accuracy_gap,
    plot_class_balance,
    plot_confusion_matrix,
    plot_history,
    plot_sample_grid,
    save_figure,
)

CLASSES = ["happy", "sad", "neutral"]


@pytest.fixture(autouse=True)
def _agg_backend():
    """Render off-screen and close every figure a test leaves open."""
    plt.switch_backend("Agg")
    yield
    plt.close("all")


def _tick_texts(labels) -> list[str]:
    return [t.get_text() for t in labels]


def _annotations(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_confusion_matrix_labels_and_percentages() -> None:
    cm = np.array([[8, 2, 0], [1, 3, 0], [0, 0, 0]])
    fig = plot_confusion_matrix(cm, CLASSES, title="cm")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert _tick_texts(ax.get_xticklabels()) == CLASSES
    assert _tick_texts(ax.get_yticklabels()) == CLASSES
    assert ax.get_xlabel() == "Predicted"
    assert ax.get_ylabel() == "True"
    assert ax.get_title() == "cm"
    texts = _annotations(ax)
    assert len(texts) == 9
    assert texts[0] == "80.0%\n(8)"
    assert texts[4] == "75.0%\n(3)"
    # the all-zero row must not produce NaN
    assert texts[6:] == ["0.0%\n(0)"] * 3


def test_confusion_matrix_counts_when_not_normalized() -> None:
    fig = plot_confusion_matrix([[5, 1], [2, 7]], ["a", "b"], normalize=False)
    assert _annotations(fig.axes[0]) == ["5", "1", "2", "7"]


def test_confusion_matrix_rejects_shape_mismatch() -> None:
    with pytest.raises(ValueError):
        plot_confusion_matrix(np.zeros((2, 2)), CLASSES)


def test_history_two_panels_epochs_from_one_and_gap() -> None:
    history = {
        "loss": [1.0, 0.8, 0.6],
        "val_loss": [1.1, 0.9, 0.85],
        "accuracy": [0.5, 0.7, 0.9],
        "val_accuracy": [0.45, 0.6, 0.75],
    }
    fig = plot_history(history, title="run")
    assert len(fig.axes) == 2
    acc_ax = fig.axes[1]
    for ax in fig.axes:
        assert len(ax.lines) == 2
        assert list(ax.lines[0].get_xdata()) == [1, 2, 3]
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "validation"]
    assert list(acc_ax.lines[1].get_ydata()) == history["val_accuracy"]
    assert "+15.0 pts" in acc_ax.get_title()
    assert accuracy_gap(history) == pytest.approx(0.15)
    assert fig._suptitle.get_text() == "run"


def test_history_without_validation() -> None:
    fig = plot_history({"loss": [1.0, 0.5], "accuracy": [0.4, 0.6]})
    assert [len(ax.lines) for ax in fig.axes] == [1, 1]
    assert "no validation" in fig.axes[1].get_title()
    assert accuracy_gap({"accuracy": [0.4]}) is None


@pytest.mark.parametrize("channel", [False, True])
def test_sample_grid_one_row_per_class(channel: bool) -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(30, 8, 8), dtype=np.uint8)
    if channel:
        images = images[..., None]
    labels = np.repeat([0, 1, 2], 10)
    fig = plot_sample_grid(images, labels, CLASSES, per_class=4, seed=3)
    assert len(fig.axes) == 3 * 4
    row_labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert row_labels == CLASSES
    shown = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(shown) == 12
    assert all(img.get_cmap().name == "gray" for img in shown)
    assert all(img.get_array().min() >= 0.0 and img.get_array().max() <= 1.0 for img in shown)


def test_sample_grid_is_deterministic_and_handles_rare_class() -> None:
    images = np.linspace(0, 1, 7 * 4 * 4, dtype=np.float32).reshape(7, 4, 4)
    labels = np.array([0, 0, 0, 0, 0, 1, 1])  # class 2 absent, class 1 has fewer than per_class
    first = plot_sample_grid(images, labels, CLASSES, per_class=3, seed=7)
    second = plot_sample_grid(images, labels, CLASSES, per_class=3, seed=7)
    pick = [np.asarray(ax.images[0].get_array()).tolist() for ax in first.axes if ax.images]
    again = [np.asarray(ax.images[0].get_array()).tolist() for ax in second.axes if ax.images]
    assert pick == again
    assert [len(ax.images) for ax in first.axes] == [1, 1, 1, 1, 1, 0, 0, 0, 0]


def test_class_balance_grouped_bars_in_first_split_order() -> None:
    counts = {
        "train": {"sad": 5, "happy": 10, "neutral": 2},
        "test": {"happy": 3, "neutral": 1, "sad": 2},
    }
    fig = plot_class_balance(counts)
    ax = fig.axes[0]
    assert _tick_texts(ax.get_xticklabels()) == ["sad", "happy", "neutral"]
    heights = [p.get_height() for p in ax.patches if p.get_height() > 0]
    assert heights[:3] == [5, 10, 2]
    assert heights[3:6] == [2, 3, 1]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "test"]


def test_save_figure_writes_png_atomically(tmp_path) -> None:
    fig = plot_confusion_matrix(np.eye(3, dtype=int), CLASSES)
    target = tmp_path / "nested" / "dir" / "cm.png"
    out = save_figure(fig, target)
    assert out == target
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "PNG"
        assert img.width > 100 and img.height > 100
    assert [p.name for p in target.parent.iterdir()] == ["cm.png"]
    assert not plt.fignum_exists(fig.number)


def test_palette_png_is_a_smaller_palette_image() -> None:
    import io

    from PIL import Image

    from fer_keras.plots import palette_png, show_inline_as_palette_png

    cm = np.random.default_rng(0).integers(0, 40, (10, 10)) + np.eye(10, dtype=int) * 60
    fig = plot_confusion_matrix(cm, [f"class {i}" for i in range(10)])
    full = io.BytesIO()
    fig.savefig(full, format="png", dpi=60, bbox_inches="tight")
    small = palette_png(fig, colors=64, dpi=60)
    with Image.open(io.BytesIO(small)) as image:
        assert image.mode == "P" and len(image.getpalette()) // 3 <= 256
    assert len(small) < 0.6 * len(full.getvalue())
    assert show_inline_as_palette_png() is False  # not inside IPython
