"""How far to trust the softmax: reliability bins, expected calibration error, temperature scaling."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

__all__ = [
    "apply_temperature",
    "expected_calibration_error",
    "fit_temperature",
    "reliability_bins",
    "to_logits",
]

N_BINS = 15
"""Equal-width confidence bins of the reliability diagram and the ECE (Guo et al., 2017)."""

TEMPERATURE_BOUNDS: tuple[float, float] = (0.05, 20.0)
"""The temperatures :func:`fit_temperature` searches between."""

_EPS = 1e-12


def check_scores(scores: np.ndarray | Sequence, labels: np.ndarray | Sequence | None = None) -> np.ndarray:
    """``scores`` as a float (N, K) array; raises ValueError naming the shape problem."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise ValueError(f"expected scores of shape (N, classes>=2), got {scores.shape}")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (len(scores),):
            raise ValueError(f"{len(scores)} rows of scores but labels of shape {labels.shape}; pass integer labels")
        if len(labels) and (labels.min() < 0 or labels.max() >= scores.shape[1]):
            raise ValueError(f"labels must lie in 0..{scores.shape[1] - 1}, got {labels.min()}..{labels.max()}")
    return scores


def is_probabilities(scores: np.ndarray) -> bool:
    return bool(np.all(scores >= 0) and np.allclose(scores.sum(axis=1), 1.0, atol=1e-3))


def to_logits(scores: np.ndarray | Sequence, inputs: str = "auto") -> np.ndarray:
    """Logits from softmax ``scores``: ``log(p)`` for probabilities (softmax-equivalent), logits unchanged.

    ``inputs`` is ``"probabilities"``, ``"logits"`` or ``"auto"`` (probabilities when every row
    is non-negative and sums to 1).
    """
    scores = check_scores(scores)
    if inputs not in ("auto", "probabilities", "logits"):
        raise ValueError(f"inputs must be 'auto', 'probabilities' or 'logits', got {inputs!r}")
    if inputs == "probabilities" or (inputs == "auto" and is_probabilities(scores)):
        return np.log(np.clip(scores, _EPS, 1.0))
    return scores


def reliability_bins(
    probabilities: np.ndarray | Sequence, y_true: np.ndarray | Sequence, n_bins: int = N_BINS
) -> pd.DataFrame:
    """Confidence (max probability) against accuracy in ``n_bins`` equal-width bins ``(lower, upper]``.

    One row per bin, empty bins included: ``lower``, ``upper``, ``count``, ``confidence``
    (mean max-probability, NaN when empty), ``accuracy`` (NaN when empty) and ``gap``
    (confidence − accuracy: positive means over-confident).
    """
    probabilities = check_scores(probabilities, y_true)
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(y_true)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.searchsorted(edges[1:-1], confidence, side="left")  # bin i holds (edges[i], edges[i+1]]
    count = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, weights=confidence, minlength=n_bins) / count
        accuracy = np.bincount(index, weights=correct.astype(float), minlength=n_bins) / count
    return pd.DataFrame(
        {
            "lower": edges[:-1],
            "upper": edges[1:],
            "count": count.astype(int),
            "confidence": mean_confidence,
            "accuracy": accuracy,
            "gap": mean_confidence - accuracy,
        }
    )


def expected_calibration_error(
    probabilities: np.ndarray | Sequence, y_true: np.ndarray | Sequence, n_bins: int = N_BINS
) -> float:
    """ECE: the count-weighted mean of |confidence − accuracy| over :func:`reliability_bins`."""
    bins = reliability_bins(probabilities, y_true, n_bins)
    total = bins["count"].sum()
    if total == 0:
        raise ValueError("ECE of an empty set is undefined: pass at least one prediction")
    filled = bins[bins["count"] > 0]
    return float((filled["count"] * filled["gap"].abs()).sum() / total)


def _nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    return float(-log_softmax(logits / temperature, axis=1)[np.arange(len(labels)), labels].mean())


def fit_temperature(val_scores: np.ndarray | Sequence, y_val: np.ndarray | Sequence, *, inputs: str = "auto") -> float:
    """The temperature T minimising the negative log-likelihood of ``softmax(logits / T)`` on the validation split.

    Takes only validation arrays, so the test split cannot leak into the fit.
    ``val_scores`` are softmax probabilities or logits (see :func:`to_logits`); the search
    runs over ``log T`` (bounded scalar minimisation in scipy) within
    :data:`TEMPERATURE_BOUNDS`. T > 1 softens an over-confident model, T < 1 sharpens.
    """
    val_scores = check_scores(val_scores, y_val)
    if len(val_scores) == 0:
        raise ValueError("fit_temperature needs at least one validation prediction")
    logits, labels = to_logits(val_scores, inputs), np.asarray(y_val, dtype=int)
    low, high = np.log(TEMPERATURE_BOUNDS)
    result = minimize_scalar(
        lambda log_t: _nll(logits, labels, float(np.exp(log_t))),
        bounds=(low, high),
        method="bounded",
        options={"xatol": 1e-5},
    )
    return float(np.exp(result.x))


def apply_temperature(scores: np.ndarray | Sequence, temperature: float, *, inputs: str = "auto") -> np.ndarray:
    """Probabilities ``softmax(logits / temperature)`` of probabilities or logits ``scores``."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return softmax(to_logits(scores, inputs) / temperature, axis=1)
