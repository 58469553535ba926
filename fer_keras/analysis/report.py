"""Run every analysis of one trained classifier on test (and validation) arrays; save figures, return numbers."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.special import softmax

from fer_keras.analysis import captions
from fer_keras.analysis.arrays import integer_labels, stratified_indices
from fer_keras.analysis.calibration import (
    N_BINS,
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    is_probabilities,
    reliability_bins,
)
from fer_keras.analysis.embedding import embed_2d, neighbour_agreement, penultimate_features
from fer_keras.analysis.mistakes import confident_mistakes, confused_pairs
from fer_keras.analysis.occlusion import occlusion_maps, occlusion_summary, pick_examples
from fer_keras.analysis.plots import (
    plot_embedding,
    plot_mistakes,
    plot_occlusion_grid,
    plot_reliability,
    save_palette_figure,
)
from fer_keras.plots import save_figure

__all__ = ["FIGURE_KINDS", "analyze_model", "predict_probabilities"]

FIGURE_KINDS = ("reliability", "confident_mistakes", "occlusion", "embedding")
"""The figures :func:`analyze_model` writes, as ``<out_dir>/<prefix>_<kind>.png``."""
_PHOTO_GRIDS = frozenset({"confident_mistakes", "occlusion"})  # saved with a palette: half the bytes


def predict_probabilities(model: keras.Model, x: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
    """Softmax probabilities of ``model`` on ``x`` (a softmax is applied if the model outputs logits)."""
    scores = np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)
    return scores if is_probabilities(scores) else softmax(scores, axis=1)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """DataFrame rows as JSON-ready dicts (NumPy scalars to Python, NaN to None)."""
    out = []
    for row in frame.to_dict(orient="records"):
        clean = {}
        for key, value in row.items():
            value = value.item() if isinstance(value, np.generic) else value
            clean[key] = None if isinstance(value, float) and math.isnan(value) else value
        out.append(clean)
    return out


def _check_arrays(
    x: np.ndarray, y: np.ndarray | Sequence, split: str, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x), integer_labels(y)
    if len(x) != len(y):
        raise ValueError(f"x_{split} has {len(x)} images but y_{split} has {len(y)} labels")
    if len(y) == 0:
        raise ValueError(f"the {split} arrays are empty: pass at least one image")
    if y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"y_{split} holds labels {y.min()}..{y.max()} but there are {num_classes} class names")
    return x, y


def _calibration(model, probabilities, y_test, x_val, y_val, n_bins, batch_size) -> tuple[dict, Figure, dict]:
    """Reliability bins and ECE on test, before and after temperature scaling fitted on validation only."""
    bins = reliability_bins(probabilities, y_test, n_bins)
    ece = expected_calibration_error(probabilities, y_test, n_bins)
    temperature = ece_after = bins_after = None
    if x_val is not None:
        temperature = fit_temperature(predict_probabilities(model, x_val, batch_size=batch_size), y_val)
        scaled = apply_temperature(probabilities, temperature)
        bins_after = reliability_bins(scaled, y_test, n_bins)
        ece_after = expected_calibration_error(scaled, y_test, n_bins)
    numbers = {
        "n_bins": int(n_bins),
        "ece": ece,
        "ece_after_temperature": ece_after,
        "temperature": temperature,
        "reliability": _records(bins),
        "reliability_after_temperature": None if bins_after is None else _records(bins_after),
    }
    figure = plot_reliability(bins, ece, bins_after=bins_after, ece_after=ece_after, temperature=temperature)
    return (
        numbers,
        figure,
        {"reliability": captions.calibration_caption(bins, ece, ece_after=ece_after, temperature=temperature)},
    )


def _mistakes(x_test, y_test, probabilities, class_names, num_mistakes, num_confusions) -> tuple[dict, Figure, dict]:
    """The most confident mistakes (gallery) and the most confused pairs (captions for both)."""
    predicted = probabilities.argmax(axis=1)
    mistakes = confident_mistakes(probabilities, y_test, num_mistakes)
    confusions = confused_pairs(y_test, predicted, class_names, num_confusions)
    num_wrong = int((predicted != y_test).sum())
    numbers = {
        "num_wrong": num_wrong,
        "confident_mistakes": [
            {**row, "true": class_names[row["true"]], "predicted": class_names[row["predicted"]]}
            for row in _records(mistakes)
        ],
        "top_confusions": _records(confusions),
    }
    text = {
        "confident_mistakes": captions.mistakes_caption(mistakes, class_names, num_wrong, len(y_test)),
        "top_confusions": captions.confusions_caption(confusions),
    }
    return numbers, plot_mistakes(x_test, mistakes, class_names), text


def _occlusion(
    model, x_test, y_test, probabilities, class_names, per_class, patch, stride, seed, batch_size
) -> tuple[dict, Figure, dict]:
    """Occlusion maps of the predicted class for a few right and wrong test images per true class."""
    predicted, confidence = probabilities.argmax(axis=1), probabilities.max(axis=1)
    rows = pick_examples(y_test, predicted, len(class_names), per_class, seed)
    chosen = sorted({index for row in rows for _, index in row if index is not None})
    maps = occlusion_maps(model, x_test[chosen], predicted[chosen], patch=patch, stride=stride, batch_size=batch_size)
    summary = occlusion_summary(maps)
    numbers = {
        **summary,
        "patch": int(patch),
        "stride": int(stride),
        "target": "predicted class",
        "examples": [
            {"index": i, "true": class_names[y_test[i]], "predicted": class_names[predicted[i]]} for i in chosen
        ],
    }
    figure = plot_occlusion_grid(x_test, dict(zip(chosen, maps, strict=True)), rows, predicted, confidence, class_names)
    return {"occlusion": numbers}, figure, {"occlusion": captions.occlusion_caption(summary, patch)}


def _embedding(model, x_test, y_test, class_names, samples, method, seed, batch_size) -> tuple[dict, Figure, dict]:
    """Penultimate features of a stratified test sample, embedded in 2-D, with k-NN class agreement."""
    sample = stratified_indices(y_test, samples, seed)
    features = penultimate_features(model, x_test[sample], batch_size=batch_size)
    points = embed_2d(features, method, seed)
    agreement = {**neighbour_agreement(features, y_test[sample]), "n": int(len(sample))}
    numbers = {
        "method": method,
        "n": agreement["n"],
        "width": int(features.shape[1]),
        "k": agreement["k"],
        "knn_agreement": agreement["overall"],
        "chance": agreement["chance"],
        "per_class": {class_names[c]: v for c, v in agreement["per_class"].items()},
    }
    title = f"{'t-SNE' if method == 'tsne' else 'PCA'} of penultimate features ({len(sample)} test images)"
    figure = plot_embedding(points, y_test[sample], class_names, title=title)
    caption = captions.embedding_caption(method, features.shape[1], agreement, class_names)
    return {"embedding": numbers}, figure, {"embedding": caption}


def analyze_model(
    model: keras.Model,
    x_test: np.ndarray,
    y_test: np.ndarray | Sequence,
    class_names: Sequence[str],
    *,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | Sequence | None = None,
    out_dir: str | os.PathLike,
    prefix: str = "",
    test_probabilities: np.ndarray | None = None,
    samples_per_class: int = 2,
    num_mistakes: int = 12,
    num_confusions: int = 3,
    embedding_samples: int = 500,
    embedding_method: str = "tsne",
    n_bins: int = N_BINS,
    patch: int = 8,
    stride: int = 6,
    seed: int = 1337,
    batch_size: int = 256,
    kinds: Sequence[str] = FIGURE_KINDS,
    on_figure: Callable[[str, Figure], None] | None = None,
) -> dict[str, Any]:
    """Calibration, mistakes, occlusion maps and the feature embedding of ``model`` on the test arrays.

    ``y_test`` / ``y_val`` may be integer or one-hot. Temperature scaling is fitted on
    ``(x_val, y_val)`` only, when given, and then applied to the test probabilities.
    ``test_probabilities`` skips the test-set prediction when the caller already has it.
    Writes the :data:`FIGURE_KINDS` PNGs to ``out_dir/<prefix>_<kind>.png`` (atomically) and
    returns a JSON-serialisable dict: ``ece``, ``ece_after_temperature`` and ``temperature``
    (None without validation arrays), ``reliability`` bins, ``confident_mistakes``,
    ``top_confusions``, ``occlusion`` and ``embedding`` numbers, ``figures`` (kind -> path),
    ``captions`` (kind -> one line) and ``timings_s``.

    ``kinds`` picks a subset of :data:`FIGURE_KINDS` (the card uses all). ``on_figure(kind, figure)``
    is called with each figure before it is saved and closed (a notebook passes ``display``-like
    code to show it inline).

    The defaults keep one smoke-profile experiment under a minute on a 2-core CPU. Occlusion
    costs the most: ``2 * samples_per_class`` images per class, each with one forward pass per
    patch position (64 for 48x48 images with ``patch`` 8 and ``stride`` 6); then t-SNE of
    ``embedding_samples`` images (``embedding_method="pca"`` takes milliseconds).
    """
    class_names = list(class_names)
    x_test, y_test = _check_arrays(x_test, y_test, "test", len(class_names))
    if (x_val is None) != (y_val is None):
        raise ValueError("pass both x_val and y_val (for temperature scaling) or neither")
    if x_val is not None:
        x_val, y_val = _check_arrays(x_val, y_val, "val", len(class_names))
    if samples_per_class < 1:
        raise ValueError(f"samples_per_class must be >= 1, got {samples_per_class}")
    out_dir = Path(out_dir)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    if test_probabilities is None:
        probabilities = predict_probabilities(model, x_test, batch_size=batch_size)
    else:
        probabilities = np.asarray(test_probabilities, dtype=np.float64)
        if probabilities.shape != (len(y_test), len(class_names)):
            raise ValueError(
                f"test_probabilities has shape {probabilities.shape}, expected {(len(y_test), len(class_names))}"
            )
    timings["predict"] = round(time.perf_counter() - start, 2)

    steps = {
        "reliability": lambda: _calibration(model, probabilities, y_test, x_val, y_val, n_bins, batch_size),
        "confident_mistakes": lambda: _mistakes(
            x_test, y_test, probabilities, class_names, num_mistakes, num_confusions
        ),
        "occlusion": lambda: _occlusion(
            model, x_test, y_test, probabilities, class_names, samples_per_class, patch, stride, seed, batch_size
        ),
        "embedding": lambda: _embedding(
            model, x_test, y_test, class_names, embedding_samples, embedding_method, seed, batch_size
        ),
    }
    result: dict[str, Any] = {"num_test": int(len(y_test))}
    figures: dict[str, str] = {}
    text: dict[str, str] = {}
    unknown = set(kinds) - set(steps)
    if unknown:
        raise ValueError(f"unknown analysis kinds {sorted(unknown)}; choose from {', '.join(FIGURE_KINDS)}")
    for kind in kinds:
        start = time.perf_counter()
        numbers, figure, step_captions = steps[kind]()
        if on_figure is not None:
            on_figure(kind, figure)
        name = f"{prefix}_{kind}.png" if prefix else f"{kind}.png"
        save = save_palette_figure if kind in _PHOTO_GRIDS else save_figure
        figures[kind] = str(save(figure, out_dir / name))
        result.update(numbers)
        text.update(step_captions)
        timings[kind] = round(time.perf_counter() - start, 2)
    return {**result, "figures": figures, "captions": text, "timings_s": timings}
