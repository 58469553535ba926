"""Does alignment help? Emotion agreement under rotation, and the photo path's framing against FER-2013's own.

One run, YuNet as the detector, the published model (its exported ONNX copy: the same answers, faster):

* ``--template``: where YuNet puts the five landmarks on FER-2013 *training* faces (each enlarged 3x and
  padded into a grey frame); the medians are :data:`fer_keras.predict.align.FER_TEMPLATE`.
* rotation agreement: each face found upright in the real photos (../shared/photos and the astronaut) and in
  ``--fer-faces`` FER-2013 test faces in a frame, and the same face in copies turned +-20 and +-35 degrees:
  how often the emotion is the same as upright, with alignment (landmarks -> upright FER framing) and without
  (the box with a 10 % margin, as before).
* framing check: the photo path (detect, then align or not) on every FER-2013 test face placed in a frame,
  against direct classification of the same 48x48 image (``--no-detect``), on the faces found.

Usage::

    python benchmarks/align.py [--template] [--fer-faces 600] [--out benchmarks/results/align.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from fer_keras.io import atomic_write_json  # noqa: E402

PHOTOS = REPO_ROOT.parent / "shared" / "photos"
ANGLES = (20, -20, 35, -35)
ENLARGE, PAD, GREY = 3, 72, 128
"""FER faces are enlarged ENLARGE times (bicubic) and padded by PAD grey pixels on every side."""


def framed(gray48: np.ndarray) -> np.ndarray:
    """A 48x48 face enlarged and padded into a grey frame (RGB), as a face in a photo."""
    import cv2

    big = cv2.resize(gray48, (48 * ENLARGE, 48 * ENLARGE), interpolation=cv2.INTER_CUBIC)
    frame = cv2.copyMakeBorder(big, PAD, PAD, PAD, PAD, cv2.BORDER_CONSTANT, value=GREY)
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)


def rotated(rgb: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """``rgb`` turned ``degrees`` counter-clockwise on a canvas that holds all of it; with the 2x3 matrix."""
    import cv2

    height, width = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w, new_h = int(round(height * sin + width * cos)), int(round(height * cos + width * sin))
    matrix[:, 2] += [(new_w - width) / 2, (new_h - height) / 2]
    turned = cv2.warpAffine(rgb, matrix, (new_w, new_h), flags=cv2.INTER_LINEAR, borderValue=(GREY, GREY, GREY))
    return turned, matrix


def centre(box: list[int]) -> np.ndarray:
    x, y, w, h = box
    return np.array([x + w / 2, y + h / 2])


def match(face: dict, matrix: np.ndarray, candidates: list[dict]) -> dict | None:
    """The face of ``candidates`` whose centre is nearest to ``face``'s centre moved by ``matrix`` (within half
    its width), or None."""
    moved = matrix[:, :2] @ centre(face["box"]) + matrix[:, 2]
    best = min(candidates, key=lambda c: np.linalg.norm(centre(c["box"]) - moved), default=None)
    if best is None or np.linalg.norm(centre(best["box"]) - moved) > face["box"][2] / 2:
        return None
    return best


def fer_files(split: str, every: int) -> list[tuple[Path, str]]:
    root = REPO_ROOT.parent / "shared" / "data" / "fer2013" / split
    files = sorted((p, p.parent.name) for p in root.glob("*/*") if p.suffix.lower() in {".jpg", ".png"})
    return files[::every]


def measure_template(every: int) -> dict[str, Any]:
    """Median landmarks of YuNet on FER-2013 training faces, in 48x48 coordinates."""
    import cv2

    from fer_keras.predict.detectors import LANDMARK_NAMES, get_detector

    detector = get_detector("yunet")
    files = fer_files("train", every)
    points = []
    for path, _ in files:
        found = detector.detect_faces(framed(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)))
        if found:
            points.append((found[0].landmarks - PAD) / ENLARGE)
    median = np.median(points, axis=0).round(2)
    iqr = np.subtract(*np.percentile(points, [75, 25], axis=0))
    return {
        "faces": len(files),
        "found": len(points),
        "template": {name: median[i].tolist() for i, name in enumerate(LANDMARK_NAMES)},
        "spread_iqr": dict(zip(LANDMARK_NAMES, iqr.round(2).tolist(), strict=True)),
    }


def agreement(predictors: dict[str, Any], images: list[np.ndarray]) -> dict[str, Any]:
    """For each image's faces found upright: same emotion in each turned copy, per predictor."""
    counts = {name: {"same": 0, "pairs": 0, "found_turned": 0} for name in predictors}
    for rgb in images:
        for name, predictor in predictors.items():
            upright = predictor.predict(rgb)
            for degrees in ANGLES:
                turned, matrix = rotated(rgb, degrees)
                faces = predictor.predict(turned)
                for face in upright:
                    counts[name]["pairs"] += 1
                    other = match(face, matrix, faces)
                    if other is not None:
                        counts[name]["found_turned"] += 1
                        counts[name]["same"] += other["emotion"] == face["emotion"]
    for row in counts.values():
        row["agreement"] = round(row["same"] / max(1, row["found_turned"]), 4)
    return counts


def framing(predictors: dict[str, Any], direct: Any, files: list[tuple[Path, str]]) -> dict[str, Any]:
    """Accuracy of the photo path on framed FER faces vs direct classification, on the faces found."""
    import cv2

    rows: dict[str, dict[str, int]] = {name: {"found": 0, "correct": 0, "direct_correct": 0} for name in predictors}
    for path, label in files:
        gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        direct_label = direct.predict(gray, detect=False)[0]["emotion"]
        rgb = framed(gray)
        for name, predictor in predictors.items():
            faces = predictor.predict(rgb)
            if faces:
                rows[name]["found"] += 1
                rows[name]["correct"] += faces[0]["emotion"] == label
                rows[name]["direct_correct"] += direct_label == label
    for row in rows.values():
        row["accuracy"] = round(row["correct"] / max(1, row["found"]), 4)
        row["direct_accuracy_same_faces"] = round(row["direct_correct"] / max(1, row["found"]), 4)
    return {"faces": len(files), "rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", action="store_true", help="only measure the landmark template")
    parser.add_argument("--template-every", type=int, default=10, help="every N-th training face (default 10)")
    parser.add_argument("--model", default=str(REPO_ROOT / "fer_keras" / "assets" / "fer7.keras"))
    parser.add_argument("--fer-faces", type=int, default=600, help="FER test faces in the rotation check")
    parser.add_argument("--out", default=str(REPO_ROOT / "benchmarks" / "results" / "align.json"))
    args = parser.parse_args(argv)
    started = time.time()
    if args.template:
        result = measure_template(args.template_every)
        print(json.dumps(result, indent=2))
        atomic_write_json(Path(args.out).with_name("align-template.json"), result)
        return 0

    from PIL import Image
    from skimage import data

    from fer_keras.predict import Predictor
    from fer_keras.predict.runtimes import load_runtime, read_class_names

    runtime = load_runtime(args.model)
    classes = read_class_names(args.model)
    predictors = {
        "aligned": Predictor(runtime, classes, detector="yunet", align=True, name=args.model),
        "box crop": Predictor(runtime, classes, detector="yunet", align=False, name=args.model),
    }
    photos = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(PHOTOS.glob("*.jpg"))] + [data.astronaut()]
    test_files = fer_files("test", 1)
    step = max(1, len(test_files) // args.fer_faces)
    fer_faces = [framed(np.asarray(Image.open(p).convert("L"))) for p, _ in test_files[::step][: args.fer_faces]]
    result = {
        "model": args.model,
        "runtime": runtime.name,
        "angles": ANGLES,
        "frame": {"enlarge": ENLARGE, "pad": PAD, "grey": GREY},
        "rotation_photos": agreement(predictors, photos),
        "rotation_fer_test_faces": agreement(predictors, fer_faces) | {"faces": len(fer_faces)},
        "framing_fer_test": framing(predictors, predictors["box crop"], test_files),
        "seconds": round(time.time() - started, 1),
    }
    print(json.dumps(result, indent=2))
    atomic_write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
