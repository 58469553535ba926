"""Turn each face upright by its landmarks and cut it with the framing of FER-2013's 48x48 crops.

The classifier learnt FER-2013's faces: upright (its training rotates them by at most 10 degrees)
and framed alike. :func:`align_faces` maps the five landmarks of a detected face onto
:data:`FER_TEMPLATE`, where YuNet puts them on FER-2013 training faces, with the best similarity
transform (rotation, uniform scale, shift; least squares), and samples the face through it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

FER_TEMPLATE = np.array(
    [[13.87, 18.85], [33.11, 19.08], [22.70, 28.27], [15.50, 36.42], [31.44, 36.69]],
    dtype=np.float64,
)
"""Median landmark positions (right eye, left eye, nose tip, mouth right, mouth left) in a 48x48
FER-2013 face, measured by ``benchmarks/align.py --template`` with YuNet on every 10th training face
(2,395 found of 2,871; benchmarks/results/align-template.json)."""
TEMPLATE_SIZE = 48
"""The side, in pixels, of the face :data:`FER_TEMPLATE` is given in."""
MAX_SUPERSAMPLING = 8
"""A face shrunk more than this is first warped at up to this multiple of the output size, then area-averaged."""


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2x3 matrix of the rotation + uniform scale + shift that best maps ``source`` onto ``target``.

    Least squares over the point pairs (Umeyama 1991, reflections excluded).

    >>> points = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> (np.round(similarity_transform(points, 2 * points + 3), 6) + 0.0).tolist()  # + 0.0: no signed zeros
    [[2.0, 0.0, 3.0], [0.0, 2.0, 3.0]]
    """
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    mean_s, mean_t = source.mean(0), target.mean(0)
    s, t = source - mean_s, target - mean_t
    covariance = t.T @ s / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rotation = u @ sign @ vt
    scale = float(np.trace(np.diag(singular) @ sign) / (s**2).sum(axis=1).mean())
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = mean_t - scale * rotation @ mean_s
    return matrix


def face_transform(landmarks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The 2x3 matrix taking image pixels to an aligned ``size`` = (H, W) face for ``landmarks`` (5, 2)."""
    height, width = size
    target = FER_TEMPLATE * [width / TEMPLATE_SIZE, height / TEMPLATE_SIZE]
    return similarity_transform(np.asarray(landmarks, np.float64), target)


def roll_degrees(landmarks: np.ndarray) -> float:
    """How far the face is turned in the image plane: the angle of the line from its right eye to its left eye.

    >>> roll_degrees(np.array([[10, 10], [20, 20], [0, 0], [0, 0], [0, 0]]))
    45.0
    """
    (rx, ry), (lx, ly) = np.asarray(landmarks, np.float64)[:2]
    return float(np.degrees(np.arctan2(ly - ry, lx - rx)))


def align_face(image: np.ndarray, landmarks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """One upright face of ``size`` = (H, W) cut from a uint8 ``(H, W)`` or ``(H, W, C)`` image."""
    import cv2

    height, width = size
    matrix = face_transform(landmarks, size)
    scale = float(np.hypot(*matrix[0, :2]))  # output pixels per image pixel
    factor = int(min(MAX_SUPERSAMPLING, max(1, np.floor(1.0 / scale)))) if scale < 1.0 else 1
    big = cv2.warpAffine(
        image,
        matrix * [[factor], [factor]],
        (width * factor, height * factor),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return big if factor == 1 else cv2.resize(big, (width, height), interpolation=cv2.INTER_AREA)


def align_faces(image: np.ndarray, landmarks: Sequence[np.ndarray], size: tuple[int, int]) -> np.ndarray:
    """:func:`align_face` for each face: uint8 ``(N, H, W)`` or ``(N, H, W, C)``."""
    height, width = size
    crops = [align_face(image, points, size) for points in landmarks]
    return np.stack(crops) if crops else np.zeros((0, height, width, *image.shape[2:]), dtype=np.uint8)
