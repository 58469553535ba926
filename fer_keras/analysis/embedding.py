"""How the model separates classes: penultimate-layer features, a 2-D embedding, neighbour agreement."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

__all__ = ["EMBED_METHODS", "embed_2d", "feature_model", "neighbour_agreement", "penultimate_features"]

EMBED_METHODS = ("pca", "tsne")
_TSNE_PCA_DIMS = 50  # t-SNE runs on the first 50 principal components (usual practice; faster, less noise)
_TSNE_THREADS = 1
"""OpenMP threads of t-SNE. More threads than free cores make its Barnes-Hut loop spin: on the shared 2-core
machine one thread embedded 40 points in 0.5 s, the default (all cores) in 11-19 s."""


def feature_model(model: keras.Model) -> keras.Model:
    """A model from ``model``'s input to the input of its last ``Dense`` layer (the penultimate features).

    Training-only layers in front (dropout, a ``RandomAffine`` augmentation) are inactive
    at inference, so the features are those the classifier head sees on test images.
    """
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    if not dense:
        raise ValueError(f"model {model.name!r} has no Dense layer: no penultimate features to read")
    inputs = model.inputs if len(model.inputs) > 1 else model.inputs[0]  # one input: called with a bare array
    return keras.Model(inputs, dense[-1].input, name=f"{model.name}_features")


def penultimate_features(model: keras.Model, x: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
    """The (N, width) inputs of ``model``'s last ``Dense`` layer for images ``x``; see :func:`feature_model`.

    The feature model is called directly, batch by batch, not through ``predict``: a new model's ``predict``
    traces a new graph, which the TensorFlow backend then reports as excessive retracing (after the
    classifier's own traces) in every experiment's output.
    """
    features = feature_model(model)
    batches = [
        keras.ops.convert_to_numpy(features(x[start : start + batch_size], training=False))
        for start in range(0, len(x), batch_size)
    ]
    return np.concatenate(batches).astype(np.float32).reshape(len(x), -1)


def embed_2d(features: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(N, 2) embedding of ``features`` (N, D) with scikit-learn PCA or t-SNE (seeded).

    t-SNE's perplexity is capped at (N - 1) / 3 so small samples work; features wider than
    50 are first reduced to 50 principal components; it runs on one OpenMP thread (see
    ``_TSNE_THREADS``). t-SNE costs seconds per few hundred points, PCA milliseconds.
    """
    if method not in EMBED_METHODS:
        raise ValueError(f"method must be one of {EMBED_METHODS}, got {method!r}")
    features = np.asarray(features, dtype=np.float32).reshape(len(features), -1)
    if len(features) < 3:
        raise ValueError(f"a 2-D embedding needs at least 3 samples, got {len(features)}")
    if method == "pca":
        embedded = PCA(n_components=2, random_state=seed).fit_transform(features)
        if embedded.shape[1] < 2:  # a single feature column
            embedded = np.pad(embedded, ((0, 0), (0, 2 - embedded.shape[1])))
        return embedded
    if features.shape[1] > _TSNE_PCA_DIMS and len(features) > _TSNE_PCA_DIMS:
        features = PCA(n_components=_TSNE_PCA_DIMS, random_state=seed).fit_transform(features)
    perplexity = float(min(30.0, (len(features) - 1) / 3))
    with threadpool_limits(limits=_TSNE_THREADS, user_api="openmp"):
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features)


def neighbour_agreement(features: np.ndarray, labels: np.ndarray | Sequence, k: int = 10) -> dict:
    """How often an image's ``k`` nearest neighbours (Euclidean, in ``features``) share its true class.

    Returns ``overall`` (mean over images), ``per_class`` (mean over each class's images,
    None for a class without images) and ``chance`` (the agreement expected from the class
    proportions alone, sum of squared shares). Computed on the features, not on the 2-D
    embedding, whose distances t-SNE distorts.
    """
    features = np.asarray(features, dtype=np.float32).reshape(len(features), -1)
    labels = np.asarray(labels, dtype=int)
    if len(features) != len(labels) or len(labels) < 2:
        raise ValueError(f"need >= 2 samples with one label each, got {len(features)} features, {len(labels)} labels")
    k = min(k, len(labels) - 1)
    _, neighbours = NearestNeighbors(n_neighbors=k + 1).fit(features).kneighbors(features)
    same = (labels[neighbours[:, 1:]] == labels[:, None]).mean(axis=1)
    classes = np.unique(labels)
    shares = np.bincount(labels) / len(labels)
    return {
        "k": int(k),
        "overall": float(same.mean()),
        "per_class": {int(c): float(same[labels == c].mean()) for c in classes},
        "chance": float((shares**2).sum()),
    }
