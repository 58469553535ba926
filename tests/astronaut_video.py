"""A generated test clip: scikit-image's astronaut panned and zoomed, then a stretch with her face cropped out.

Used by the video tests, the Camera-mode browser test (as Chromium's fake camera, ``.y4m``) and
``benchmarks/video.py``. Each frame comes with the box where her face is (``None`` when it is out of view),
computed from how the photo was placed: the astronaut photo's face is at ``ASTRONAUT_FACE``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ASTRONAUT_FACE = (178, 63, 90, 113)
"""The face box ``(x, y, w, h)`` that YuNet, the default detector, finds in ``skimage.data.astronaut()`` (512x512)."""
BACKGROUND = 96


@dataclass(frozen=True)
class Frame:
    """One RGB frame and where the face is in it (``None``: no face in view)."""

    rgb: np.ndarray
    face: tuple[float, float, float, float] | None


def place(photo: np.ndarray, size: tuple[int, int], scale: float, offset: tuple[float, float]) -> np.ndarray:
    """``photo`` scaled by ``scale`` with its top-left corner at ``offset`` on a grey ``size`` = (W, H) frame."""
    import cv2

    width, height = size
    matrix = np.float32([[scale, 0, offset[0]], [0, scale, offset[1]]])
    return cv2.warpAffine(
        photo,
        matrix,
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(BACKGROUND,) * 3,
    )


def astronaut_frames(
    size: tuple[int, int] = (640, 480), pan: int = 30, zoom: int = 20, no_face: int = 20
) -> list[Frame]:
    """``pan`` frames moving the photo 90 px right, ``zoom`` frames scaling it 0.85 -> 1.05, then ``no_face``
    frames with the photo moved up so that the face is out of the frame."""
    from skimage import data

    photo = np.ascontiguousarray(data.astronaut())
    fx, fy, fw, fh = ASTRONAUT_FACE
    plan: list[tuple[float, float, float]] = []  # (scale, x offset, y offset)
    plan += [(0.9, 60 + 90 * i / max(1, pan - 1), 10.0) for i in range(pan)]
    plan += [(0.85 + 0.2 * i / max(1, zoom - 1), 150.0, 10.0) for i in range(zoom)]
    plan += [(0.9, 150.0 - 2 * i, -260.0) for i in range(no_face)]
    frames = []
    for scale, ox, oy in plan:
        box = (ox + scale * fx, oy + scale * fy, scale * fw, scale * fh)
        visible = box[1] >= 0 and box[0] >= 0 and box[0] + box[2] <= size[0]
        frames.append(Frame(place(photo, size, scale, (ox, oy)), box if visible else None))
    return frames


def write_video(path: str | os.PathLike, frames: Iterable[Frame], fps: float = 25.0, fourcc: str = "mp4v") -> Path:
    """Write the frames with ``cv2.VideoWriter`` (MPEG-4 part 2 in ``.mp4`` by default)."""
    import cv2

    frames = list(frames)
    height, width = frames[0].rgb.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path} with codec {fourcc}")
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return Path(path)


def write_y4m(path: str | os.PathLike, frames: Iterable[Frame], fps: int = 25) -> Path:
    """Write the frames as an uncompressed YUV4MPEG2 (4:2:0) file, the format of Chromium's fake camera."""
    import cv2

    frames = list(frames)
    height, width = frames[0].rgb.shape[:2]
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2YUV_I420).tobytes())
    return Path(path)
