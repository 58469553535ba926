"""Where the model looks: occlusion sensitivity maps from forward passes only.

Occlusion sensitivity (Zeiler & Fergus, 2014) slides a grey patch over the image and
records how much the probability of a class drops when each region is hidden. It was
chosen over Grad-CAM because it needs nothing but ``model.predict``: Keras 3 has no
backend-neutral gradient call (``GradientTape``, ``jax.grad`` and ``torch.autograd`` differ),
so these maps work unchanged on TensorFlow, JAX and PyTorch, for any model, including the
MLP that has no convolution block for Grad-CAM to read.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

__all__ = ["occlusion_map", "occlusion_maps", "occlusion_summary", "patch_starts", "pick_examples"]

REGION_ROWS = ("top", "middle", "bottom")
REGION_COLS = ("left", "centre", "right")


def patch_starts(size: int, patch: int, stride: int) -> list[int]:
    """Start offsets of a ``patch`` sliding by ``stride`` over ``size`` pixels, the last one flush with the edge."""
    if not 1 <= patch <= size or stride < 1:
        raise ValueError(f"need 1 <= patch <= {size} and stride >= 1, got patch={patch}, stride={stride}")
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return starts


def _as_batch(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:  # (N, H, W) -> one channel
        images = images[..., None]
    if images.ndim != 4:
        raise ValueError(f"expected images of shape (N, H, W[, C]), got {images.shape}")
    return images


def occlusion_maps(
    model: keras.Model,
    images: np.ndarray,
    class_indices: Sequence[int] | np.ndarray,
    *,
    patch: int = 8,
    stride: int = 4,
    fill: float | None = None,
    batch_size: int = 256,
) -> np.ndarray:
    """Occlusion sensitivity of ``images`` (N, H, W[, C]) for ``class_indices``: (N, H, W) maps.

    Each pixel holds the mean drop of the class probability, ``p(original) − p(occluded)``,
    over the ``patch`` x ``patch`` occluders (moved by ``stride``) that cover it; positive
    means hiding the pixel lowers the class's probability (the model relies on it). The
    occluder is filled with ``fill``, or with each image's mean grey when None (no new
    black edges). All occluded copies and the originals go through one ``model.predict``.
    """
    images = _as_batch(images)
    class_indices = np.asarray(class_indices, dtype=int).reshape(-1)
    if len(class_indices) != len(images):
        raise ValueError(f"{len(images)} images but {len(class_indices)} class indices")
    n, height, width, _ = images.shape
    positions = [(r, c) for r in patch_starts(height, patch, stride) for c in patch_starts(width, patch, stride)]
    fills = images.mean(axis=(1, 2, 3)) if fill is None else np.full(n, fill, dtype=np.float32)
    copies = np.repeat(images[:, None], len(positions), axis=1)  # (N, P, H, W, C)
    for p, (r, c) in enumerate(positions):
        copies[:, p, r : r + patch, c : c + patch, :] = fills[:, None, None, None]
    batch = np.concatenate([images, copies.reshape(-1, *images.shape[1:])])
    probabilities = np.asarray(model.predict(batch, batch_size=batch_size, verbose=0))
    base = probabilities[np.arange(n), class_indices]
    occluded = probabilities[n:].reshape(n, len(positions), -1)[np.arange(n), :, class_indices]  # (N, P)
    drops = base[:, None] - occluded
    total = np.zeros((n, height, width), dtype=np.float64)
    coverage = np.zeros((height, width), dtype=np.float64)
    for p, (r, c) in enumerate(positions):
        total[:, r : r + patch, c : c + patch] += drops[:, p, None, None]
        coverage[r : r + patch, c : c + patch] += 1
    return (total / coverage).astype(np.float32)


def occlusion_map(
    model: keras.Model,
    image: np.ndarray,
    class_index: int,
    *,
    patch: int = 8,
    stride: int = 4,
    fill: float | None = None,
    batch_size: int = 256,
) -> np.ndarray:
    """Occlusion sensitivity (H, W) of one ``image`` (H, W[, C]) for ``class_index``; see :func:`occlusion_maps`."""
    image = np.asarray(image)
    return occlusion_maps(
        model, image[None], [class_index], patch=patch, stride=stride, fill=fill, batch_size=batch_size
    )[0]


def occlusion_summary(maps: np.ndarray) -> dict:
    """Where the positive importance (probability drops) of ``maps`` (N, H, W) lies, summed over the images.

    ``upper_share`` / ``left_share``: fraction of the importance in the upper / left half
    (None when nothing matters); ``region``: the most important ninth of the image (3x3
    grid, e.g. "top-left", "centre"); ``max_drop``: the largest drop of any pixel.
    """
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim == 2:
        maps = maps[None]
    positive = np.clip(maps, 0.0, None).sum(axis=0)
    height, width = positive.shape
    total = positive.sum()
    upper = positive[: height // 2].sum() + (positive[height // 2].sum() / 2 if height % 2 else 0.0)
    left = positive[:, : width // 2].sum() + (positive[:, width // 2].sum() / 2 if width % 2 else 0.0)
    rows = np.array_split(np.arange(height), 3)
    cols = np.array_split(np.arange(width), 3)
    grid = np.array([[positive[np.ix_(r, c)].mean() for c in cols] for r in rows])
    row, col = np.unravel_index(int(grid.argmax()), grid.shape)
    region = "centre" if (row, col) == (1, 1) else f"{REGION_ROWS[row]}-{REGION_COLS[col]}"
    return {
        "images": int(len(maps)),
        "upper_share": float(upper / total) if total > 0 else None,
        "left_share": float(left / total) if total > 0 else None,
        "region": region if total > 0 else None,
        "max_drop": float(maps.max(initial=0.0)),
    }


def pick_examples(
    y_true: np.ndarray | Sequence, y_pred: np.ndarray | Sequence, num_classes: int, per_class: int = 2, seed: int = 0
) -> list[list[tuple[str, int | None]]]:
    """For each true class, ``per_class`` correct then ``per_class`` wrong examples, drawn at random (seeded).

    Returns one row per class of ``2 * per_class`` slots ``(kind, index)`` with kind
    "correct" or "wrong"; ``index`` is None where the class has too few such examples.
    """
    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    rng = np.random.default_rng(seed)
    rows = []
    for cls in range(num_classes):
        row: list[tuple[str, int | None]] = []
        for kind, mask in (("correct", y_pred == cls), ("wrong", y_pred != cls)):
            candidates = np.flatnonzero((y_true == cls) & mask)
            chosen = np.sort(rng.choice(candidates, size=min(per_class, len(candidates)), replace=False))
            row += [(kind, int(i)) for i in chosen] + [(kind, None)] * (per_class - len(chosen))
        rows.append(row)
    return rows
