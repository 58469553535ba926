"""YuNet with landmarks, alignment, Haar still selectable, the exported model and its runtimes (issue 24)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fer_keras import cli
from fer_keras.constants import FER7_CLASSES
from fer_keras.data import DataError
from fer_keras.predict import Predictor, predict_faces
from fer_keras.predict.align import FER_TEMPLATE, align_face, face_transform, roll_degrees
from fer_keras.predict.detectors import LANDMARK_NAMES, HaarDetector, YuNetDetector, build_detector, get_detector
from fer_keras.predict.runtimes import load_runtime, read_class_names, resolve

REPO_ROOT = Path(__file__).resolve().parents[1]
COMMITTED_FER7 = REPO_ROOT / "fer_keras" / "assets" / "fer7.keras"
COMMITTED_ONNX = COMMITTED_FER7.with_suffix(".onnx")
ASTRONAUT_LANDMARKS = {  # where her eyes, nose tip and mouth corners are (looked up on the photo)
    "right_eye": (200, 102),
    "left_eye": (247, 103),
    "nose": (220, 125),
    "mouth_right": (199, 143),
    "mouth_left": (240, 144),
}
FACELESS = ("coffee", "chelsea", "rocket", "hubble_deep_field", "moon", "page", "text", "horse", "brick", "coins")
needs_published = pytest.mark.skipif(
    not (COMMITTED_FER7.is_file() and COMMITTED_ONNX.is_file()),
    reason="no published FER-7 model and its ONNX copy in fer_keras/assets/ (`make results`, `fer-keras export`)",
)


def turned(rgb: np.ndarray, degrees: float) -> np.ndarray:
    """``rgb`` turned counter-clockwise about its centre, same size, grey corners."""
    return np.asarray(Image.fromarray(rgb).rotate(degrees, resample=Image.Resampling.BILINEAR, fillcolor=(128,) * 3))


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def test_yunet_finds_the_astronaut_with_five_landmarks(astronaut: np.ndarray) -> None:
    (face,) = get_detector("yunet").detect_faces(astronaut)
    x, y, w, h = face.box
    assert abs(x - 178) <= 6 and abs(y - 63) <= 6 and abs(w - 90) <= 8 and abs(h - 113) <= 8
    assert 0.8 <= face.score <= 1.0
    points = face.landmark_dict()
    assert tuple(points) == LANDMARK_NAMES
    for name, (px, py) in ASTRONAUT_LANDMARKS.items():
        assert abs(points[name][0] - px) <= 5 and abs(points[name][1] - py) <= 5, (name, points[name])
    assert x <= min(p[0] for p in points.values()) and max(p[0] for p in points.values()) <= x + w
    assert abs(roll_degrees(face.landmarks)) < 3  # she holds her head upright


@pytest.mark.parametrize("degrees", [25, -25])
def test_yunet_finds_the_astronaut_turned(astronaut: np.ndarray, degrees: float) -> None:
    (face,) = get_detector("yunet").detect_faces(turned(astronaut, degrees))
    angle = np.radians(degrees)  # where her nose tip goes when PIL turns the photo about its centre
    dx, dy = np.subtract(ASTRONAUT_LANDMARKS["nose"], 256)
    nose = 256 + np.array([dx * np.cos(angle) + dy * np.sin(angle), -dx * np.sin(angle) + dy * np.cos(angle)])
    np.testing.assert_allclose(face.landmarks[2], nose, atol=8)
    x, y, w, h = face.box
    assert x < nose[0] < x + w and y < nose[1] < y + h


@pytest.mark.parametrize("name", FACELESS)
def test_no_face_in_photos_without_one(name: str) -> None:
    from skimage import data

    image = getattr(data, name)()
    if image.dtype != np.uint8:
        image = (image.astype(np.float64) / image.max() * 255).astype(np.uint8)
    assert get_detector("yunet").detect_faces(np.ascontiguousarray(image[..., :3] if image.ndim == 3 else image)) == []


def test_onnx_runtime_and_opencv_run_yunet_alike(astronaut: np.ndarray) -> None:
    """The default engine (ONNX Runtime + our decoding) gives OpenCV's ``cv2.FaceDetectorYN`` faces: one face,
    six tiled faces (non-maximum suppression), turned, grayscale, and low-score boxes cut by ``top_k``."""
    tiled = np.tile(astronaut, (2, 3, 1))  # 1024x1536: six faces
    cases = [
        ({}, astronaut),
        ({}, turned(astronaut, 35)),
        ({}, np.asarray(Image.fromarray(astronaut).convert("L"))),
        ({"max_side": 1536}, tiled),
        ({"max_side": 700}, tiled),
        ({"score_threshold": 0.05, "nms_threshold": 0.9, "top_k": 3}, turned(astronaut, 90)),
    ]
    for settings, image in cases:
        ours = YuNetDetector(**settings).detect_faces(image)
        opencv = YuNetDetector(engine="opencv", **settings).detect_faces(image)
        assert [f.box for f in ours] == [f.box for f in opencv] and ours, settings
        for a, b in zip(ours, opencv, strict=True):
            np.testing.assert_allclose(a.landmarks, b.landmarks, atol=0.01)
            assert abs(a.score - b.score) < 1e-4
    assert len(YuNetDetector(max_side=1536).detect_faces(tiled)) == 6


def test_yunet_refuses_a_bad_model_file(tmp_path: Path) -> None:
    not_onnx = tmp_path / "yunet.onnx"
    not_onnx.write_bytes(b"not a network")
    with pytest.raises(DataError, match="cannot load .*yunet.onnx as a YuNet face detector"):
        YuNetDetector(model=str(not_onnx))
    with pytest.raises(DataError, match="lacks the outputs .*bbox_16"):
        YuNetDetector(model=str(COMMITTED_ONNX))  # an ONNX model, but the classifier
    with pytest.raises(ValueError, match="engine 'onnx' or 'opencv'"):
        YuNetDetector(engine="tflite")


def test_yunet_settings_are_checked_and_applied(astronaut: np.ndarray) -> None:
    assert get_detector("yunet") is get_detector("yunet")  # built once
    assert YuNetDetector(min_size=200).detect_faces(astronaut) == []  # her face is 90 px wide
    assert YuNetDetector(score_threshold=0.99).detect_faces(astronaut) == []  # her score is 0.93
    with pytest.raises(ValueError, match="between 0 and 1"):
        YuNetDetector(score_threshold=1.5)
    with pytest.raises(DataError, match="Unknown face detector 'mtcnn'"):
        build_detector("mtcnn")
    with pytest.raises(DataError, match="Bad setting for the haar detector"):
        build_detector("haar", score_threshold=0.5)


def test_alignment_puts_the_landmarks_where_fer_2013_has_them(astronaut: np.ndarray) -> None:
    (face,) = get_detector("yunet").detect_faces(astronaut)
    matrix = face_transform(face.landmarks, (48, 48))
    moved = face.landmarks @ matrix[:, :2].T + matrix[:, 2]
    np.testing.assert_allclose(moved, FER_TEMPLATE, atol=2.5)  # her eyes, nose and mouth land on FER-2013's
    gray = np.asarray(Image.fromarray(astronaut).convert("L"))
    crop = align_face(gray, face.landmarks, (48, 48))
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    big = align_face(gray, face.landmarks, (96, 96))  # one transform whatever the size: the same picture
    assert np.abs(big.reshape(48, 2, 48, 2).mean(axis=(1, 3)) - crop).mean() < 6


def test_alignment_undoes_a_known_turn() -> None:
    points = FER_TEMPLATE * 4 + 150  # a face of 192 px at (150, 150)
    angle = np.radians(30)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    turned_points = (points - 250) @ rotation.T + 250
    assert abs(roll_degrees(turned_points) - roll_degrees(points) - 30) < 1e-6
    matrix = face_transform(turned_points, (48, 48))
    np.testing.assert_allclose(turned_points @ matrix[:, :2].T + matrix[:, 2], FER_TEMPLATE, atol=1e-6)


def test_haar_is_still_selectable(
    fer7_model_file: Path, astronaut: np.ndarray, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (face,) = predict_faces(fer7_model_file, astronaut, detector="haar")
    assert face["landmarks"] is None and face["score"] is None
    assert all(abs(a - b) <= 6 for a, b in zip(face["box"], (177, 66, 95, 95), strict=True))
    assert isinstance(Predictor.from_file(fer7_model_file, detector="haar").detector, HaarDetector)
    path = str(tmp_path / "astronaut.png")
    Image.fromarray(astronaut).save(path)
    assert cli.main(["predict", str(fer7_model_file), path, "--detector", "haar", "--min-face", "48"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["faces"][0]["box"] == face["box"] and listed["faces"][0]["landmarks"] is None
    assert cli.main(["predict", str(fer7_model_file), path, "--detector", "haar", "--score-threshold", "0.5"]) == 2
    assert "YuNet settings" in capsys.readouterr().err


def test_runtime_choice_and_clear_errors(fer7_model_file: Path, tmp_path: Path) -> None:
    assert resolve(fer7_model_file) == ("keras", fer7_model_file)  # no model.onnx beside it
    with pytest.raises(DataError, match="fer-keras export .* --format onnx"):
        resolve(fer7_model_file, "onnx")
    with pytest.raises(DataError, match="Unknown runtime 'tensorrt'"):
        resolve(fer7_model_file, "tensorrt")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(DataError, match="ONNX Runtime cannot load"):
        load_runtime(bad)
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(DataError, match="not a model file"):
        resolve(notes)


@pytest.fixture(scope="module")
def exported(fer7_model_file: Path, tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> dict:
    """``fer-keras export`` of the test model (a copy) to ONNX, checked on 8 test images per class."""
    from conftest import copy_images, real_images

    folder = tmp_path_factory.mktemp("export")
    model = folder / "fer7.keras"
    model.write_bytes(fer7_model_file.read_bytes())
    (folder / "fer7.classes.json").write_bytes(fer7_model_file.with_name("model.classes.json").read_bytes())
    data = folder / "data"
    for cls in FER7_CLASSES:
        copy_images(real_images(data_root, "test", cls, 8), data / cls)
    result = subprocess.run(
        [sys.executable, "-m", "fer_keras", "export", str(model), "--format", "onnx", "--data", str(data)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return {"model": model, "data": data, "report": json.loads(result.stdout)}


def test_export_writes_a_checked_onnx_file_with_its_classes(exported: dict) -> None:
    report, model = exported["report"], exported["model"]
    assert report["passed"] and report["images"] == 56 and report["top1_agreement"] == 1.0
    assert model.with_suffix(".onnx").is_file()
    assert read_class_names(model.with_suffix(".onnx")) == list(FER7_CLASSES)
    assert resolve(model) == ("onnx", model.with_suffix(".onnx"))  # auto now takes the export


def test_both_runtimes_agree_on_a_test_batch(exported: dict) -> None:
    from fer_keras.data.decode import decode_images

    files = sorted(str(p) for p in exported["data"].glob("*/*.jpg"))
    batch = decode_images(files, (48, 48))[..., None].astype(np.float32) / 255.0
    keras_probs = load_runtime(exported["model"], "keras")(batch)
    onnx_probs = load_runtime(exported["model"], "onnx")(batch)
    assert (keras_probs.argmax(1) == onnx_probs.argmax(1)).all()
    np.testing.assert_allclose(onnx_probs, keras_probs, atol=1e-4)


def test_an_onnx_file_from_another_model_is_not_used(exported: dict, tmp_path: Path, capsys) -> None:
    other = tmp_path / "fer7.keras"
    other.write_bytes(exported["model"].read_bytes() + b"\0")  # another file: another SHA-256
    for suffix in (".onnx", ".classes.json"):
        name = "fer7" + suffix
        (tmp_path / name).write_bytes((exported["model"].parent / name).read_bytes())
    assert load_runtime(other).name == "keras"
    assert "was not exported from" in capsys.readouterr().err
    with pytest.raises(DataError, match="was not exported from"):
        load_runtime(other, "onnx")


def test_the_exported_file_runs_in_a_fresh_process_without_fer_keras(exported: dict) -> None:
    script = """
import json, sys
sys.modules["fer_keras"] = None  # importing fer_keras (or through it keras) would fail
import numpy as np, onnxruntime
session = onnxruntime.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
classes = json.load(open(sys.argv[2]))["class_names"]
probs = session.run(None, {session.get_inputs()[0].name: np.zeros((3, 48, 48, 1), np.float32)})[0]
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "jax", "torch"))
print(json.dumps({"shape": list(probs.shape), "classes": classes, "heavy": heavy}))
"""
    onnx_file = exported["model"].with_suffix(".onnx")
    result = subprocess.run(
        [sys.executable, "-I", "-c", script, str(onnx_file), str(onnx_file.with_name("fer7.classes.json"))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out == {"shape": [3, 7], "classes": list(FER7_CLASSES), "heavy": []}


def test_export_refuses_what_it_cannot_check(fer7_model_file: Path, tmp_path: Path) -> None:
    from fer_keras.saving.convert import export_model

    with pytest.raises(DataError, match="Unknown export format 'tflite'"):
        export_model(fer7_model_file, "tflite", tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        export_model(fer7_model_file, "onnx", tmp_path / "no-data")


@needs_published
def test_published_model_labels_the_turned_astronaut_as_upright(astronaut: np.ndarray) -> None:
    predictor = Predictor.from_file(COMMITTED_FER7)
    assert predictor.runtime.name == "onnx"  # the exported copy beside it
    (upright,) = predictor.predict(astronaut)
    assert upright["emotion"] == "happy"
    for degrees in (25, -25):
        (face,) = predictor.predict(turned(astronaut, degrees))
        assert face["emotion"] == upright["emotion"], (degrees, face)


@needs_published
def test_published_onnx_matches_keras_on_test_faces(data_root: Path) -> None:
    from fer_keras.data.decode import decode_images

    files = [str(p) for cls in FER7_CLASSES for p in sorted((data_root / "fer2013/test" / cls).glob("*.jpg"))[:16]]
    batch = decode_images(files, (48, 48))[..., None].astype(np.float32) / 255.0
    keras_probs = load_runtime(COMMITTED_FER7, "keras")(batch)
    onnx_probs = load_runtime(COMMITTED_FER7, "onnx")(batch)
    assert (keras_probs.argmax(1) == onnx_probs.argmax(1)).all()
    np.testing.assert_allclose(onnx_probs, keras_probs, atol=1e-4)


HEAVY = ("tensorflow", "keras", "jax", "torch")
RUN_CLI = """
import json, signal, sys
from fer_keras.cli import main


def record(*_):  # what this process imported, written once the command is done (or stopped, for serve)
    with open(sys.argv[1], "w") as out:
        json.dump(sorted({m.split(".")[0] for m in sys.modules} & {"tensorflow", "keras", "jax", "torch"}), out)
    sys.exit(0)


signal.signal(signal.SIGTERM, record)  # uvicorn re-raises SIGTERM once it has shut down
status = main(sys.argv[2:])
record() if status == 0 else sys.exit(status)
"""


def run_cli_recording_imports(args: list[str], record: Path, cwd: Path, **popen: object) -> subprocess.Popen:
    """``fer-keras ARGS`` in a fresh process that writes to ``record`` which of :data:`HEAVY` it imported."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen([sys.executable, "-c", RUN_CLI, str(record), *args], cwd=cwd, env=env, **popen)


@needs_published
def test_the_exported_path_imports_neither_tensorflow_nor_keras(astronaut_png: Path, tmp_path: Path) -> None:
    """The command line, the one call and ``serve`` (a real process over HTTP) run the published model's
    ONNX copy without importing TensorFlow, Keras or another backend (and ``--runtime keras`` does import it)."""
    import httpx
    from conftest import free_port

    for runtime, expected in (("auto", set()), ("keras", {"keras", "tensorflow"})):
        record = tmp_path / f"predict-{runtime}.json"
        args = ["predict", str(astronaut_png), "--runtime", runtime]
        done = run_cli_recording_imports(args, record, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        stdout, stderr = done.communicate(timeout=300)
        assert done.returncode == 0, stderr[-3000:]
        assert json.loads(stdout)[0]["faces"][0]["emotion"] == "happy"
        imported = set(json.loads(record.read_text()))
        assert imported == expected if runtime == "auto" else expected <= imported

    script = f"""
import json, sys, fer_keras
faces = fer_keras.detect_emotions({str(astronaut_png)!r})
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
print(json.dumps({{"emotion": faces[0].emotion, "landmarks": len(faces[0].landmarks), "heavy": heavy}}))
"""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout) == {"emotion": "happy", "landmarks": 5, "heavy": []}

    port, log, record = free_port(), tmp_path / "serve.log", tmp_path / "serve.json"
    with open(log, "wb") as out:
        server = run_cli_recording_imports(["serve", "--port", str(port)], record, tmp_path, stdout=out, stderr=out)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(240):
            try:
                health = httpx.get(f"{url}/health", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, log.read_text()[-3000:]
                time.sleep(0.25)
        assert health.json()["runtime"] == "onnx" and health.json()["detector"] == "yunet"
        files = {"file": ("astronaut.png", astronaut_png.read_bytes(), "image/png")}
        assert httpx.post(f"{url}/predict", files=files, timeout=60).json()["emotion"] == "happy"
    finally:
        server.terminate()  # uvicorn stops on SIGTERM; the command returns and the record is written
        server.wait(timeout=30)
    assert json.loads(record.read_text()) == [], log.read_text()[-3000:]


def test_opencv_decoding_keeps_every_input_and_refuses_bombs(
    astronaut: np.ndarray, astronaut_png: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from fer_keras.errors import BadImageError
    from fer_keras.predict.images import read_image

    jpeg = io.BytesIO()
    Image.fromarray(astronaut).save(jpeg, format="JPEG", quality=95)
    by_pil = np.asarray(Image.open(io.BytesIO(jpeg.getvalue())).convert("RGB"))
    by_opencv = np.asarray(read_image(jpeg.getvalue()))  # a complete upright JPEG: decoded by OpenCV
    assert by_opencv.shape == by_pil.shape and np.abs(by_opencv.astype(int) - by_pil).mean() < 1.5
    assert np.array_equal(np.asarray(read_image(astronaut_png)), astronaut)  # PNG is lossless either way
    gray = io.BytesIO()
    Image.fromarray(astronaut).convert("L").save(gray, format="PNG")
    assert read_image(gray.getvalue()).mode == "L"
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # her 262,144 pixels are then a decompression bomb
    for data in (astronaut_png.read_bytes(), jpeg.getvalue()):
        with pytest.raises(BadImageError, match="decompression bomb"):
            read_image(data, name="bomb.png")


def test_a_litert_export_agrees_with_keras(exported: dict, tmp_path: Path) -> None:
    from fer_keras.data.decode import decode_images
    from fer_keras.saving.convert import export_file

    keras_runtime = load_runtime(exported["model"], "keras")
    path = tmp_path / "fer7.tflite"
    export_file(keras_runtime.model, path, "litert")
    files = sorted(str(p) for p in exported["data"].glob("*/*.jpg"))[:20]
    batch = decode_images(files, (48, 48))[..., None].astype(np.float32) / 255.0
    litert = load_runtime(path)
    assert litert.name == "litert" and litert.input_shape == (None, 48, 48, 1)
    np.testing.assert_allclose(litert(batch), keras_runtime(batch), atol=1e-4)
    np.testing.assert_allclose(litert(batch[:3]), keras_runtime(batch[:3]), atol=1e-4)  # another batch size
