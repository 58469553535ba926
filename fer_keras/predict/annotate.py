"""Draw face boxes and their predicted expression onto a photo."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from fer_keras.io import atomic_write_bytes

BOX_COLOUR = (255, 64, 64)
TEXT_COLOUR = (255, 255, 255)
LANDMARK_COLOUR = (64, 255, 64)


def annotate_image(image: Image.Image, faces: Sequence[Mapping[str, Any]]) -> Image.Image:
    """A copy of ``image`` (RGB) with each face's box, landmarks (dots) and ``"emotion confidence"`` label drawn."""
    out = image.convert("RGB")
    draw = ImageDraw.Draw(out)
    line = max(2, round(max(out.size) / 250))
    font = _font(max(12, round(max(out.size) / 32)))
    for face in faces:
        x, y, w, h = face["box"]
        draw.rectangle((x, y, x + w - 1, y + h - 1), outline=BOX_COLOUR, width=line)
        for px, py in (face.get("landmarks") or {}).values():
            draw.ellipse((px - line, py - line, px + line, py + line), fill=LANDMARK_COLOUR)
        label = f"{face['emotion']} {face['confidence']:.0%}"
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        text_w, text_h = right - left + 2 * line, bottom - top + 2 * line
        label_y = y - text_h if y - text_h >= 0 else y + h
        draw.rectangle((x, label_y, x + text_w, label_y + text_h), fill=BOX_COLOUR)
        draw.text((x + line - left, label_y + line - top), label, fill=TEXT_COLOUR, font=font)
    return out


def annotate_bgr(frame: np.ndarray, faces: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """A BGR video frame (OpenCV's order) with :func:`annotate_image`'s boxes and labels drawn on it."""
    if not faces:
        return frame
    drawn = annotate_image(Image.fromarray(np.ascontiguousarray(frame[..., ::-1])), faces)
    return np.ascontiguousarray(np.asarray(drawn)[..., ::-1])


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's default font at ``size`` pixels, loaded once per size (video frames reuse it)."""
    return ImageFont.load_default(size=size)


def save_annotated(image: Image.Image, faces: Sequence[Mapping[str, Any]], path: str | os.PathLike) -> Path:
    """Write :func:`annotate_image` of ``image`` to ``path`` as PNG, atomically."""
    buffer = io.BytesIO()
    annotate_image(image, faces).save(buffer, format="PNG")
    return atomic_write_bytes(path, buffer.getvalue())
