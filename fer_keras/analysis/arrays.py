"""Arrays for the analyses: stack an unshuffled feed into (x, integer y), draw stratified samples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

__all__ = ["collect_arrays", "integer_labels", "stratified_indices"]


def integer_labels(y: np.ndarray | Sequence) -> np.ndarray:
    """Integer labels from one-hot (N, K) rows or integer (N,) / (N, 1) labels."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(axis=1).astype(int)
    return y.reshape(-1).astype(int)


def collect_arrays(feed: Any, max_samples: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Stack the batches of an unshuffled feed into ``(x, y_int)``, in the feed's order.

    ``feed`` is anything indexable by batch with ``len()`` (ImageDataGenerator iterators,
    Keras ``PyDataset``) or any iterable of ``(x, y)`` batches; ``y`` may be one-hot or
    integer. Stops after ``max_samples`` images (the first ones, not a random sample), so
    pass a shuffled feed only if that is what you want.
    """
    if getattr(feed, "shuffle", False):
        raise ValueError("collect_arrays needs an unshuffled feed (shuffle=False): its order must match the labels")
    batches = (feed[i] for i in range(len(feed))) if hasattr(feed, "__getitem__") and hasattr(feed, "__len__") else feed
    xs, ys, seen = [], [], 0
    for batch in batches:
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise ValueError(f"feed must yield (x, y) batches, got {type(batch).__name__}")
        x, y = np.asarray(batch[0]), integer_labels(batch[1])
        xs.append(x)
        ys.append(y)
        seen += len(x)
        if max_samples is not None and seen >= max_samples:
            break
    if not xs:
        raise ValueError("the feed yielded no batches")
    x, y = np.concatenate(xs), np.concatenate(ys)
    return (x, y) if max_samples is None else (x[:max_samples], y[:max_samples])


def stratified_indices(y: np.ndarray | Sequence, size: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded stratified sample of ``size`` labels (all indices when ``size`` >= len)."""
    y = np.asarray(y)
    if size >= len(y):
        return np.arange(len(y))
    counts = np.bincount(y)
    stratify = y if counts[counts > 0].min() >= 2 and size >= len(counts[counts > 0]) else None
    chosen, _ = train_test_split(np.arange(len(y)), train_size=size, stratify=stratify, random_state=seed)
    return np.sort(chosen)
