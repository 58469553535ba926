"""The one call: ``fer_keras.detect_emotions`` on a path, bytes, a PIL image and an array, with the published
FER-7 model loaded once; ``fer_keras.analyze_video`` at the same place; a lazy ``import fer_keras``; and the
inference side loading no training, reporting or data-loading code (checked in fresh processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astronaut_video import astronaut_frames, write_video
from PIL import Image

import fer_keras
from fer_keras.api import Face, _predictor

REPO_ROOT = Path(__file__).resolve().parents[1]
ASTRONAUT_FACE = (178, 63, 90, 113)  # where YuNet, the default detector, finds her face
TRAINING_SIDE = ("keras_tuner", "sklearn", "pandas", "keras.src.legacy.preprocessing")
"""Modules the one call must not bring in (keras-tuner, scikit-learn, pandas, Keras' ImageDataGenerator code)."""
OUR_TRAINING_SIDE = ("fer_keras.data", "fer_keras.training", "fer_keras.evaluation", "fer_keras.experiments")


def near(box, expected=ASTRONAUT_FACE, tolerance: int = 6) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(box, expected, strict=True))


def test_detect_emotions_takes_a_path_bytes_pil_and_an_array(astronaut_png: Path) -> None:
    inputs = {
        "path": astronaut_png,
        "str": str(astronaut_png),
        "bytes": astronaut_png.read_bytes(),
        "pil": Image.open(astronaut_png),
        "array": np.asarray(Image.open(astronaut_png).convert("RGB")),
    }
    answers = {kind: fer_keras.detect_emotions(image) for kind, image in inputs.items()}
    for kind, faces in answers.items():
        assert len(faces) == 1, kind
        (face,) = faces
        assert isinstance(face, Face) and face.emotion == "happy" and near(face.box), (kind, face)
        assert face.confidence == max(face.probabilities.values())
        assert list(face.probabilities) == list(fer_keras.FER7_CLASSES)
        assert abs(sum(face.probabilities.values()) - 1) < 1e-4
    assert answers["path"] == answers["bytes"] == answers["array"]
    assert _predictor("fer7") is _predictor("fer7")  # the published model is loaded once and reused
    as_json = json.loads(json.dumps(answers["path"][0].as_dict()))
    assert as_json["emotion"] == "happy" and len(as_json["box"]) == 4 and len(as_json["landmarks"]) == 5
    assert Face.from_dict(as_json) == answers["path"][0]


def test_detect_emotions_names_bad_input() -> None:
    with pytest.raises(fer_keras.BadImageError, match="Cannot decode the uploaded data as an image"):
        fer_keras.detect_emotions(b"not an image")
    with pytest.raises(fer_keras.DataError, match="Unknown published model 'fer9': choose one of fer7, fer4"):
        fer_keras.detect_emotions(np.zeros((8, 8), dtype=np.uint8), model="fer9")
    assert fer_keras.detect_emotions(np.zeros((64, 64), dtype=np.uint8)) == []  # no face: an empty list
    (face,) = fer_keras.detect_emotions(np.zeros((48, 48), dtype=np.uint8), model="fer4", detect=False)
    assert set(face.probabilities) == set(fer_keras.FER4_CLASSES)


def test_analyze_video_is_at_the_top_level_too(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "astronaut.mp4", astronaut_frames((320, 240), pan=4, zoom=0, no_face=2))
    table = fer_keras.analyze_video(clip)
    assert table.attrs["frames_read"] == 6 and set(table["frame"]) <= set(range(4))
    assert (table["emotion"] == "happy").mean() >= 0.75


def run_fresh(code: str, cwd: Path) -> dict:
    """Run ``code`` in a new Python process on this checkout's fer_keras; its last stdout line as JSON."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_is_lazy_and_the_one_call_loads_no_training_code(astronaut_png: Path, tmp_path: Path) -> None:
    lazy = run_fresh("import json, sys, fer_keras; print(json.dumps(sorted(sys.modules)))", tmp_path)
    assert "keras" not in lazy and "tensorflow" not in lazy and "fer_keras.data" not in lazy
    assert [name for name in lazy if name.startswith("fer_keras")] == ["fer_keras"]
    check = f"""
import json, sys
import fer_keras
faces = fer_keras.detect_emotions({str(astronaut_png)!r})
print(json.dumps({{"emotion": faces[0].emotion, "modules": sorted(sys.modules)}}))
"""
    one_call = run_fresh(check, tmp_path)
    assert one_call["emotion"] == "happy"
    loaded = set(one_call["modules"])
    assert not [name for name in OUR_TRAINING_SIDE if name in loaded]
    # Keras itself imports scikit-learn and pandas when they are installed (its sklearn wrapper and pandas
    # data adapter) and its legacy preprocessing package: whatever `import keras` alone loads is not ours.
    keras_alone = set(run_fresh("import json, sys, keras, cv2; print(json.dumps(sorted(sys.modules)))", tmp_path))
    assert "keras_tuner" not in loaded
    assert [name for name in TRAINING_SIDE if name in loaded and name not in keras_alone] == []


INFERENCE_SIDE = ("errors", "constants", "presets", "saving", "layers", "io", "predict", "api")
"""What fer_keras' inference code may import of fer_keras (package-shape.md): never training, reporting or data."""


def test_inference_code_imports_only_the_inference_side() -> None:
    import ast

    package = REPO_ROOT / "fer_keras"
    # saving/'s loading modules only: its conversions for publishing may read data, off the inference path
    files = [*(package / "predict").rglob("*.py"), package / "saving" / "__init__.py", package / "saving" / "files.py"]
    files += [package / f"{name}.py" for name in ("api", "presets", "layers", "errors")]
    wrong = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                parts = name.split(".")
                if parts[0] == "fer_keras" and len(parts) > 1 and parts[1] not in INFERENCE_SIDE:
                    wrong.append(f"{path.relative_to(REPO_ROOT)}: {name}")
    assert not wrong, wrong
