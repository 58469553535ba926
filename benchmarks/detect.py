"""Face detection on real photos, YuNet against the Haar cascade: faces found, extra boxes, time per photo.

One run, both detectors at their default settings (and YuNet run by OpenCV's ``cv2.FaceDetectorYN``, timed
for comparison), on:

* the photos in ../shared/photos (human face counts in ``faces.json``) and scikit-image's astronaut (one face),
  each as it is, turned +-20 and +-35 degrees (on a canvas that holds the whole photo), scaled 0.5x and 2x,
  blurred (Gaussian, sigma 1 % of the longer side), darkened (pixel values x 0.3) and re-encoded as JPEG
  quality 20;
* photos without a human face from scikit-image (coffee, chelsea, rocket and others), as they are.

Faces are counted, not located: on a photo with ``n`` faces, ``min(found, n)`` faces are found and
``max(0, found - n)`` boxes are extra. Time is the median of ``--repeats`` calls of ``detect_faces`` on the
decoded RGB array. Writes the raw JSON and a Markdown table. Usage::

    python benchmarks/detect.py [--repeats 5] [--out benchmarks/results/detect-cpu-2-cores.json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from fer_keras.io import atomic_write_json, atomic_write_text  # noqa: E402

PHOTOS = REPO_ROOT.parent / "shared" / "photos"
FACELESS = (
    *("coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "moon", "page", "text", "horse"),
    *("clock", "brick", "grass", "gravel", "coins", "logo", "colorwheel", "cell", "retina"),
)
"""scikit-image photos without a human face (its ``camera``, the cameraman, has one and is left out)."""
ROTATIONS = ("turned +20", "turned -20", "turned +35", "turned -35")
DETECTORS = {"yunet": ("yunet", {}), "haar": ("haar", {}), "yunet-opencv": ("yunet", {"engine": "opencv"})}
"""Each timed detector: its name and settings for ``get_detector``. ``yunet-opencv`` is YuNet run by OpenCV's
``cv2.FaceDetectorYN``: the same faces as ``yunet``, timed for comparison."""


def rotate(rgb: np.ndarray, degrees: float) -> np.ndarray:
    """``rgb`` turned ``degrees`` counter-clockwise on a canvas that holds all of it (grey corners)."""
    import cv2

    height, width = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    size = (int(round(height * sin + width * cos)), int(round(height * cos + width * sin)))
    matrix[:, 2] += [(size[0] - width) / 2, (size[1] - height) / 2]
    return cv2.warpAffine(rgb, matrix, size, flags=cv2.INTER_LINEAR, borderValue=(128, 128, 128))


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    """``rgb`` encoded as JPEG at ``quality`` and decoded again."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def variants() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Each variant's name and how it is made from the RGB photo."""
    import cv2

    def scale(factor: float) -> Callable[[np.ndarray], np.ndarray]:
        def scaled(rgb: np.ndarray) -> np.ndarray:
            size = (round(rgb.shape[1] * factor), round(rgb.shape[0] * factor))
            return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)

        return scaled

    def blur(rgb: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(rgb, (0, 0), 0.01 * max(rgb.shape[:2]))

    return {
        "as it is": lambda rgb: rgb,
        "turned +20": lambda rgb: rotate(rgb, 20),
        "turned -20": lambda rgb: rotate(rgb, -20),
        "turned +35": lambda rgb: rotate(rgb, 35),
        "turned -35": lambda rgb: rotate(rgb, -35),
        "scaled 0.5x": scale(0.5),
        "scaled 2x": scale(2.0),
        "blurred": blur,
        "dark (x0.3)": lambda rgb: (rgb.astype(np.float32) * 0.3).astype(np.uint8),
        "JPEG q20": lambda rgb: jpeg(rgb, 20),
    }


def photos_with_faces() -> list[tuple[str, np.ndarray, int]]:
    """(name, RGB, human faces) of ../shared/photos and the astronaut."""
    from PIL import Image
    from skimage import data

    counts = json.loads((PHOTOS / "faces.json").read_text())
    found = [(name, np.asarray(Image.open(PHOTOS / name).convert("RGB")), int(n)) for name, n in counts.items()]
    return [*found, ("astronaut (scikit-image)", np.ascontiguousarray(data.astronaut()), 1)]


def faceless_photos() -> list[tuple[str, np.ndarray]]:
    """(name, RGB) of :data:`FACELESS`."""
    from skimage import data

    out = []
    for name in FACELESS:
        image = getattr(data, name)()
        if image.dtype != np.uint8:
            image = (image.astype(np.float64) / image.max() * 255).astype(np.uint8)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        out.append((name, np.ascontiguousarray(image[..., :3])))
    return out


def timed(detector: Any, rgb: np.ndarray, repeats: int) -> tuple[int, float]:
    """Faces found and the median milliseconds of ``repeats`` calls."""
    times, found = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        found = len(detector.detect_faces(rgb))
        times.append((time.perf_counter() - start) * 1000)
    return found, statistics.median(times)


def run(repeats: int) -> dict[str, Any]:
    """Every photo and variant through each detector."""
    from fer_keras.predict.detectors import get_detector

    detectors = {key: get_detector(name, **settings) for key, (name, settings) in DETECTORS.items()}
    for detector in detectors.values():  # warm up: first calls allocate
        detector.detect_faces(np.zeros((480, 640, 3), np.uint8))
    rows = []
    for photo, rgb, faces in photos_with_faces():
        for variant, make in variants().items():
            image = make(rgb)
            row = {"photo": photo, "variant": variant, "faces": faces, "size": list(image.shape[1::-1])}
            for name, detector in detectors.items():
                found, ms = timed(detector, image, repeats)
                row[name] = {"boxes": found, "found": min(found, faces), "extra": max(0, found - faces), "ms": ms}
            rows.append(row)
    for photo, image in faceless_photos():
        row = {"photo": photo, "variant": "no face", "faces": 0, "size": list(image.shape[1::-1])}
        for name, detector in detectors.items():
            found, ms = timed(detector, image, repeats)
            row[name] = {"boxes": found, "found": 0, "extra": found, "ms": ms}
        rows.append(row)
    return {"detectors": {name: repr(d) for name, d in detectors.items()}, "rows": rows}


def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per variant (and the shared photos x 5 rotations, the issue's target): faces found, extra boxes, ms."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["variant"], []).append(row)
        if row["variant"] in ("as it is", *ROTATIONS) and not row["photo"].startswith("astronaut"):
            groups.setdefault("shared photos x 5 rotations (target)", []).append(row)
    target = groups.pop("shared photos x 5 rotations (target)")
    groups["shared photos x 5 rotations (target)"] = target
    out = []
    for variant, members in groups.items():
        line = {"variant": variant, "photos": len(members), "faces": sum(r["faces"] for r in members)}
        for name in DETECTORS:
            line[name] = {
                "found": sum(r[name]["found"] for r in members),
                "extra": sum(r[name]["extra"] for r in members),
                "median_ms": round(statistics.median(r[name]["ms"] for r in members), 1),
            }
        out.append(line)
    return out


def markdown(result: dict[str, Any]) -> str:
    """The summary as a Markdown table, headed by the machine and the load."""
    m = result["machine"]
    lines = [
        f"{m['cpu']}, {m['nproc']} CPUs, {m['date']}, load average {m['load_average_start']} -> "
        f"{m['load_average_end']}; median of {result['repeats']} calls per photo",
        "",
        "| photos | faces | YuNet found | YuNet extra boxes | YuNet ms per photo | Haar found | Haar extra boxes "
        "| Haar ms per photo | YuNet run by OpenCV: found, ms per photo |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for line in result["summary"]:
        y, h, o = line["yunet"], line["haar"], line["yunet-opencv"]
        faces = line["faces"] or "-"
        lines.append(
            f"| {line['variant']} ({line['photos']}) | {faces} | {y['found']} | {y['extra']} | {y['median_ms']} "
            f"| {h['found']} | {h['extra']} | {h['median_ms']} | {o['found']}, {o['median_ms']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per photo and detector (median)")
    parser.add_argument("--out", default=str(REPO_ROOT / "benchmarks" / "results" / "detect-cpu-2-cores.json"))
    args = parser.parse_args(argv)
    import cv2

    from benchmarks.serve import machine

    info = machine()
    result = run(args.repeats)
    info["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    result = {"machine": info, "opencv": cv2.__version__, "repeats": args.repeats, **result}
    result["summary"] = summary(result["rows"])
    atomic_write_json(args.out, result)
    table = markdown(result)
    atomic_write_text(Path(args.out).with_suffix(".md"), table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
