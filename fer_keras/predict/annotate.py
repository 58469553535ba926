"""Draw face boxes and their predicted expression onto a photo."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from fer_keras.io import atomic_write_bytes

BOX_COLOUR = (255, 64, 64)
TEXT_COLOUR = (255, 255, 255)


def annotate_image(image: Image.Image, faces: Sequence[Mapping[str, Any]]) -> Image.Image:
    """A copy of ``image`` (RGB) with each face's box and ``"emotion confidence"`` label drawn."""
    out = image.convert("RGB")
    draw = ImageDraw.Draw(out)
    line = max(2, round(max(out.size) / 250))
    font = ImageFont.load_default(size=max(12, round(max(out.size) / 32)))
    for face in faces:
        x, y, w, h = face["box"]
        draw.rectangle((x, y, x + w - 1, y + h - 1), outline=BOX_COLOUR, width=line)
        label = f"{face['emotion']} {face['confidence']:.0%}"
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        text_w, text_h = right - left + 2 * line, bottom - top + 2 * line
        label_y = y - text_h if y - text_h >= 0 else y + h
        draw.rectangle((x, label_y, x + text_w, label_y + text_h), fill=BOX_COLOUR)
        draw.text((x + line - left, label_y + line - top), label, fill=TEXT_COLOUR, font=font)
    return out


def save_annotated(image: Image.Image, faces: Sequence[Mapping[str, Any]], path: str | os.PathLike) -> Path:
    """Write :func:`annotate_image` of ``image`` to ``path`` as PNG, atomically."""
    buffer = io.BytesIO()
    annotate_image(image, faces).save(buffer, format="PNG")
    return atomic_write_bytes(path, buffer.getvalue())
