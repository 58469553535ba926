"""A trained model on real photos: face detection, ``predict_faces``, bad inputs and ``python -m fer_keras predict``."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fer_keras import cli
from fer_keras.constants import FER7_CLASSES
from fer_keras.data import DataError
from fer_keras.data.decode import decode_one
from fer_keras.predict import (
    BadImageError,
    FaceDetector,
    Predictor,
    crop_region,
    get_predictor,
    load_checked_model,
    predict_faces,
    read_image,
)
from fer_keras.training import load_model, save_model

REPO_ROOT = Path(__file__).resolve().parents[1]
ASTRONAUT_FACE = (177, 66, 95, 95)  # where the Haar cascade finds her face
YUNET_FACE = (178, 63, 90, 113)  # where YuNet (the default detector) finds it
COMMITTED_FER7 = REPO_ROOT / "fer_keras" / "assets" / "fer7.keras"  # published by `make results`: package data


def assert_near(box, expected=ASTRONAUT_FACE, tolerance: int = 6) -> None:
    assert all(abs(a - b) <= tolerance for a, b in zip(box, expected, strict=True)), box


@pytest.fixture(scope="module")
def predictor(fer7_model_file: Path) -> Predictor:
    return get_predictor(fer7_model_file)


def test_detector_finds_the_astronaut_face(astronaut_png: Path) -> None:
    gray = Image.open(astronaut_png).convert("L")
    boxes = FaceDetector().detect(gray)
    assert len(boxes) == 1
    assert_near(boxes[0])


def test_detector_shrinks_large_photos_and_scales_boxes_back(astronaut_png: Path) -> None:
    big = Image.open(astronaut_png).convert("L").resize((2048, 2048), Image.Resampling.BILINEAR)
    boxes = FaceDetector(max_side=512).detect(big)
    assert len(boxes) == 1
    assert_near(boxes[0], tuple(4 * v for v in ASTRONAUT_FACE), tolerance=24)


def test_predict_faces_returns_one_described_face(predictor: Predictor, astronaut_png: Path) -> None:
    faces = predict_faces(predictor, astronaut_png)
    assert len(faces) == 1
    face = faces[0]
    assert list(face) == ["box", "landmarks", "score", "emotion", "confidence", "probabilities"]
    assert_near(face["box"], YUNET_FACE)
    assert list(face["landmarks"]) == ["right_eye", "left_eye", "nose", "mouth_right", "mouth_left"]
    assert 0.8 <= face["score"] <= 1.0
    assert list(face["probabilities"]) == list(FER7_CLASSES)
    assert face["emotion"] == max(face["probabilities"], key=face["probabilities"].get)
    assert face["confidence"] == face["probabilities"][face["emotion"]]
    assert sum(face["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)


def test_every_image_input_kind_gives_the_same_answer(fer7_model_file: Path, astronaut_png: Path) -> None:
    rgb = np.asarray(Image.open(astronaut_png).convert("RGB"))
    by_path = predict_faces(fer7_model_file, astronaut_png)  # a path: model loaded once and cached
    assert get_predictor(fer7_model_file) is get_predictor(str(fer7_model_file))
    for image in (str(astronaut_png), astronaut_png.read_bytes(), Image.open(astronaut_png), rgb):
        assert predict_faces(fer7_model_file, image) == by_path


def test_whole_image_mode_matches_the_training_preprocessing(predictor: Predictor, data_root: Path) -> None:
    """A pre-cropped FER-2013 face with detect=False gets exactly the training loader's pixels."""
    path = sorted((data_root / "fer2013" / "test" / "happy").glob("*.jpg"))[0]
    faces = predict_faces(predictor, path, detect=False)
    assert [f["box"] for f in faces] == [[0, 0, 48, 48]]
    x = decode_one(str(path))[None, ..., None].astype("float32") / 255.0
    expected = predictor.model.predict_on_batch(x)[0]
    got = np.array(list(faces[0]["probabilities"].values()))
    np.testing.assert_allclose(got, expected, atol=2e-6)


def test_faces_of_one_image_go_through_the_model_in_one_call(predictor: Predictor, astronaut_png: Path) -> None:
    photo = Image.open(astronaut_png).convert("RGB")
    pair = Image.new("RGB", (1024, 512))
    pair.paste(photo, (0, 0))
    pair.paste(photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (512, 0))
    model, batches = predictor.model, []
    original = model.predict_on_batch
    model.predict_on_batch = lambda x: batches.append(x.shape) or original(x)  # count calls, run the real one
    try:
        faces = predictor.predict(pair)
    finally:
        del model.predict_on_batch
    assert batches == [(2, 48, 48, 1)]
    assert len(faces) == 2
    x, _, w, _ = YUNET_FACE
    assert sorted(f["box"][0] for f in faces) == pytest.approx([x, 1024 - x - w], abs=6)
    img = predictor.load_image(pair)
    found = predictor.detect(pair)
    for face, detection in zip(faces, found, strict=True):  # each face of the batch gets what it gets alone
        alone = predictor.classify(img, [detection])[0]
        np.testing.assert_allclose(list(face["probabilities"].values()), alone, atol=2e-6)


def test_photo_without_a_face_gives_no_faces(predictor: Predictor) -> None:
    from skimage import data

    assert predict_faces(predictor, data.coffee()) == []


def test_crop_region_adds_margin_inside_the_image() -> None:
    assert crop_region((177, 66, 95, 95), (512, 512)) == (167, 56, 282, 171)
    assert crop_region((0, 0, 50, 50), (60, 60)) == (0, 0, 55, 55)


def test_unreadable_images_are_reported(predictor: Predictor, astronaut_png: Path, tmp_path: Path) -> None:
    png = astronaut_png.read_bytes()
    with pytest.raises(BadImageError, match="not an image or is truncated"):
        read_image(b"this is not an image", name="notes.txt")
    with pytest.raises(BadImageError, match="truncated"):
        read_image(png[: len(png) // 2])
    with pytest.raises(BadImageError, match="empty"):
        read_image(b"")
    with pytest.raises(BadImageError, match="uint8"):
        read_image(np.zeros((10, 10, 3), dtype=np.float32))
    missing = tmp_path / "missing.jpg"
    with pytest.raises(DataError, match=str(missing)):
        predict_faces(predictor, missing)
    broken = tmp_path / "broken.png"
    broken.write_bytes(png[:1000])
    with pytest.raises(BadImageError, match=str(broken)):
        predict_faces(predictor, broken)
    zeroed = png[: len(png) // 2] + bytes(len(png) - len(png) // 2 - 12) + png[-12:]  # complete-looking, IEND kept
    with pytest.raises(BadImageError, match="zeroed.png"):  # not a half-black photo (pyspng 0.1.4 gives one)
        read_image(zeroed, name="zeroed.png")


def test_exif_orientation_is_applied(astronaut_png: Path) -> None:
    photo = Image.open(astronaut_png).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: viewers turn it 90 degrees clockwise
    buffer = io.BytesIO()
    photo.transpose(Image.Transpose.ROTATE_90).save(buffer, format="JPEG", exif=exif)
    upright = read_image(buffer.getvalue())
    assert upright.size == photo.size
    boxes = FaceDetector().detect(upright.convert("L"))
    assert len(boxes) == 1 and abs(boxes[0][0] - 177) <= 8


def test_bad_model_files_are_named(fer7_model_file: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_checked_model(tmp_path / "none.keras")
    garbage = tmp_path / "garbage.keras"
    garbage.write_text("not a model")
    garbage.with_name("garbage.classes.json").write_text(json.dumps({"class_names": list(FER7_CLASSES)}))
    with pytest.raises(DataError, match=f"Cannot load model file {garbage}"):
        load_checked_model(garbage)
    model = load_model(fer7_model_file)
    no_classes = tmp_path / "no_classes.keras"
    no_classes.write_bytes(fer7_model_file.read_bytes())
    with pytest.raises(DataError, match="no_classes.classes.json is missing"):
        load_checked_model(no_classes)
    wrong = save_model(model, tmp_path / "wrong.keras", ["happy", "sad", "neutral", "surprise"])
    with pytest.raises(DataError, match="outputs \\(7,\\) but 4 class names"):
        load_checked_model(wrong)
    with pytest.raises(DataError, match="class_names"):
        predict_faces(model, np.zeros((48, 48), dtype=np.uint8))


def test_cli_predict_prints_faces_and_writes_annotated_copy(
    fer7_model_file: Path, astronaut_png: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "annotated"
    result = subprocess.run(
        [sys.executable, "-m", "fer_keras", "predict", str(fer7_model_file), str(astronaut_png)]
        + ["--annotate", str(out_dir)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert [r["image"] for r in printed] == [str(astronaut_png)]
    (face,) = printed[0]["faces"]
    assert_near(face["box"], YUNET_FACE)
    assert face["emotion"] in FER7_CLASSES
    annotated = Image.open(out_dir / "astronaut_annotated.png").convert("RGB")
    assert annotated.size == (512, 512)
    x, y, w, h = face["box"]
    assert annotated.getpixel((x, y + h // 2)) == (255, 64, 64)  # the box's left edge
    assert Image.open(astronaut_png).convert("RGB").getpixel((x, y + h // 2)) != (255, 64, 64)


def test_cli_predict_refuses_missing_files(
    fer7_model_file: Path, astronaut_png: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    missing_model = tmp_path / "nope.keras"
    assert cli.main(["predict", str(missing_model), str(astronaut_png)]) == 2
    assert f"error: Model file {missing_model} does not exist" in capsys.readouterr().err
    assert cli.main(["predict", str(fer7_model_file), str(tmp_path / "no.png")]) == 2
    assert "no.png" in capsys.readouterr().err


@pytest.mark.skipif(
    not COMMITTED_FER7.is_file(),
    reason=f"no published FER-7 model: {COMMITTED_FER7.relative_to(REPO_ROOT)} is missing "
    "(`make results PROFILE=cpu` makes it)",
)
def test_committed_fer7_model_sees_the_astronaut_smile(astronaut_png: Path, capsys: pytest.CaptureFixture) -> None:
    (face,) = predict_faces(COMMITTED_FER7, astronaut_png)
    assert face["emotion"] == "happy", face
    assert Predictor.from_file().name == str(COMMITTED_FER7)  # no model named: the published one
    assert cli.main(["predict", str(astronaut_png)]) == 0  # likewise on the command line
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["faces"][0]["emotion"] == "happy" and listed["faces"][0]["box"] == face["box"]


def test_without_the_published_model_an_unnamed_model_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, astronaut_png: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import fer_keras.presets as presets

    monkeypatch.setattr(presets, "assets_dir", lambda: tmp_path / "assets")
    presets.preset_path.cache_clear()
    try:
        assert cli.main(["predict", str(astronaut_png)]) == 2
        err = capsys.readouterr().err
        assert f"The published model 'fer7' is not installed: {tmp_path / 'assets' / 'fer7.keras'} is missing" in err
        assert "Reinstall fer_keras (pip install .)" in err and "or name a .keras file saved by `train`" in err
        with pytest.raises(DataError, match="is not installed"):
            Predictor.from_file()
        (tmp_path / "assets").mkdir()
        (tmp_path / "assets" / "fer7.keras").write_bytes(COMMITTED_FER7.read_bytes()[:1000])  # a damaged copy
        shutil.copy(COMMITTED_FER7.with_name("fer7.classes.json"), tmp_path / "assets")
        shutil.copy(COMMITTED_FER7.with_name("SHA256SUMS"), tmp_path / "assets")
        presets.preset_path.cache_clear()
        with pytest.raises(DataError, match="fer7.keras is damaged or was replaced: its SHA-256 is"):
            Predictor.from_file("fer7")
    finally:
        presets.preset_path.cache_clear()
