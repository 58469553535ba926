"""``data import-csv``: a CSV written from the real folders imports back pixel for pixel; bad rows name their line."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fer_keras import cli
from fer_keras.constants import FER4_CLASSES, FER7_CLASSES
from fer_keras.data import DataError, fer_frames, load_fer
from fer_keras.data.check import check_data
from fer_keras.data.fer_csv import TEMP_PREFIX, import_fer_csv, iter_fer_csv

# The CSV's own emotion order (not the folders' alphabetical one), written out independently of the package.
EMOTION_INDEX = {"angry": 0, "disgust": 1, "fear": 2, "happy": 3, "sad": 4, "surprise": 5, "neutral": 6}
FER2013_HEADER = ("emotion", "pixels", "Usage")
ICML_HEADER = ("emotion", " Usage", " pixels")
SAMPLE = {"Training": ("train", 5), "PublicTest": ("test", 3), "PrivateTest": ("test", 3)}
"""Per class: 5 train images as Training, 3 test images as PublicTest and 3 other test images as PrivateTest."""


def gray_pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("L"), dtype=np.uint8)


def sample_rows(data_root: Path, seed: int = 0) -> list[tuple[str, str, Path]]:
    """A seeded sample of real images, stratified by class, as (Usage, class, path) rows."""
    rng = np.random.default_rng(seed)
    rows = []
    for cls in FER7_CLASSES:
        taken: dict[str, set[Path]] = {"train": set(), "test": set()}
        for usage, (split, count) in SAMPLE.items():
            files = [p for p in sorted((data_root / "fer2013" / split / cls).glob("*.jpg")) if p not in taken[split]]
            for index in sorted(rng.choice(len(files), size=count, replace=False)):
                taken[split].add(files[index])
                rows.append((usage, cls, files[index]))
    return rows


def write_fer_csv(path: Path, rows: Sequence[tuple[str, str, Path]], header: Sequence[str] = FER2013_HEADER) -> Path:
    """Write (Usage, class, image) rows as a FER-2013 CSV with ``header`` (column order as named)."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for usage, cls, image in rows:
            values = {
                "emotion": str(EMOTION_INDEX[cls]),
                "pixels": " ".join(map(str, gray_pixels(image).ravel())),
                "usage": usage,
            }
            writer.writerow([values[name.strip().lower()] for name in header])
    return path


@pytest.fixture(scope="module")
def rows(data_root: Path) -> list[tuple[str, str, Path]]:
    return sample_rows(data_root)


@pytest.fixture(scope="module")
def sample_csv(rows, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fer_csv(tmp_path_factory.mktemp("csv") / "fer2013.csv", rows)


@pytest.fixture(scope="module")
def imported(sample_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample CSV imported through the command line; returns the data root."""
    root = tmp_path_factory.mktemp("imported") / "data"
    assert cli.main(["data", "import-csv", str(sample_csv), "--out", str(root), "--quiet"]) == 0
    return root


# ---------------------------------------------------------------- round trip on real data


def test_round_trip_pixels_and_counts(rows, imported: Path) -> None:
    fer = imported / "fer2013"
    assert sorted(p.name for p in fer.iterdir()) == ["privatetest", "test", "train"]
    assert not list(imported.glob(f"{TEMP_PREFIX}*"))
    folder_of = {"Training": "train", "PublicTest": "test", "PrivateTest": "privatetest"}
    for split in folder_of.values():
        for cls in FER7_CLASSES:
            expected = sum(1 for u, c, _ in rows if folder_of[u] == split and c == cls)
            assert len(list((fer / split / cls).glob("*.png"))) == expected
    # every row's PNG (named <Usage>_<line>) holds exactly the source image's pixels
    for line, (usage, cls, source) in enumerate(rows, start=2):
        png = fer / folder_of[usage] / cls / f"{usage}_{line:05d}.png"
        with Image.open(png) as image:
            assert image.format == "PNG" and image.mode == "L" and image.size == (48, 48)
        np.testing.assert_array_equal(gray_pixels(png), gray_pixels(source))


def test_import_prints_summary_table(sample_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["data", "import-csv", str(sample_csv), "--out", str(tmp_path / "root"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"Imported {7 * 11} images (lossless PNG)" in out
    table = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.split()}
    assert table["split"][:7] == list(FER7_CLASSES)
    assert table["train"][:8] == ["5"] * 7 + ["35"] and table["privatetest"][:8] == ["3"] * 7 + ["21"]
    assert "data check" in out


def test_loaders_read_the_imported_tree(imported: Path) -> None:
    frames = fer_frames(FER7_CLASSES, imported, validation_split=0.3, seed=0)
    assert {f.endswith(".png") for frame in frames.values() for f in frame["filename"]} == {True}
    assert len(frames["test"]) == 7 * 3 and len(frames["train"]) + len(frames["validation"]) == 7 * 5
    data = load_fer(FER4_CLASSES, imported, batch_size=4, validation_split=0.4, augmentation=False)
    x, y = data.test[0]
    assert x.shape == (4, 48, 48, 1) and y.shape == (4, 4)
    first = data.frames["test"]["filename"].iloc[0]
    np.testing.assert_allclose(x[0, ..., 0], gray_pixels(Path(first)) / 255.0, atol=1e-6)


def test_icml_face_data_header(rows, tmp_path: Path) -> None:
    source = write_fer_csv(tmp_path / "icml_face_data.csv", rows[:9], header=ICML_HEADER)
    assert source.read_text().splitlines()[0] == "emotion, Usage, pixels"
    result = import_fer_csv(source, tmp_path / "root")
    assert result.rows == 9
    assert result.counts == {"train": {"angry": 5}, "test": {"angry": 3}, "privatetest": {"angry": 1}}


# ---------------------------------------------------------------- bad input names the line and the fix

PIXELS = " ".join(["128"] * 2304)


def _csv(tmp_path: Path, lines: Sequence[str]) -> Path:
    path = tmp_path / "fer2013.csv"
    path.write_text("".join(line + "\n" for line in lines))
    return path


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["emotion,pixels", f"3,{PIXELS}"], ["line 1 (header)", "missing column(s) Usage", "fer2013.csv"]),
        ([], ["is empty"]),
        (["", ""], ["is empty"]),
        (["emotion,pixels,Usage"], ["no rows"]),
        (["emotion,pixels,Usage", f"3,{PIXELS},Training", f"7,{PIXELS},Training"], ["line 3", "emotion '7'", "0-6"]),
        (["emotion,pixels,Usage", f"happy,{PIXELS},Training"], ["line 2", "emotion 'happy'", "3 happy"]),
        (
            ["emotion,pixels,Usage", f"3,{PIXELS},Training", "", f"0,{PIXELS},Validation"],
            ["line 4", "Usage 'Validation'", "Training, PublicTest, PrivateTest"],
        ),
        (
            ["emotion,pixels,Usage", f"3,{PIXELS},Training", f"3,{PIXELS[:-4]},PublicTest"],
            ["line 3", "holds 2303 values, not 2304"],
        ),
        (["emotion,pixels,Usage", f"3,{PIXELS} 256,Training"], ["line 2", "value 2305", "'256'", "0-255"]),
        (["emotion,pixels,Usage", f"3,12.5 {PIXELS[4:]},Training"], ["line 2", "value 1", "'12.5'"]),
        (["emotion,pixels,Usage", f"3,-1 {PIXELS[4:]},Training"], ["line 2", "value 1", "'-1'"]),
        (["emotion,pixels,Usage", "3,,Training"], ["line 2", "pixels field is empty"]),
        (["emotion,pixels,Usage", f"3,{PIXELS},Training,extra"], ["line 2", "4 field(s), the header has 3"]),
    ],
)
def test_bad_csv_names_line_and_fix(tmp_path: Path, lines: list[str], expected: list[str]) -> None:
    source = _csv(tmp_path, lines)
    root = tmp_path / "root"
    with pytest.raises(DataError) as info:
        import_fer_csv(source, root)
    message = str(info.value)
    assert str(source) in message
    for text in expected:
        assert text in message, message
    assert not root.exists()  # nothing half-written, not even the data root it created


def test_bad_row_near_the_end_leaves_nothing(rows, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    source = write_fer_csv(tmp_path / "fer2013.csv", rows)
    with source.open("a") as handle:
        handle.write(f"3,{PIXELS},PublicTest\n9,{PIXELS},Training\n")
    root = tmp_path / "root"
    root.mkdir()
    (root / "keep.txt").write_text("the user's file")
    assert cli.main(["data", "import-csv", str(source), "--out", str(root), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and f"line {len(rows) + 3}" in err and "emotion '9'" in err
    assert sorted(p.name for p in root.iterdir()) == ["keep.txt"]  # no fer2013/, no temporary folder


def test_existing_fer2013_is_not_overwritten(sample_csv: Path, imported: Path) -> None:
    before = sorted(str(p) for p in (imported / "fer2013").rglob("*"))
    with pytest.raises(DataError, match="already exists"):
        import_fer_csv(sample_csv, imported)
    assert sorted(str(p) for p in (imported / "fer2013").rglob("*")) == before


def test_missing_csv_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["data", "import-csv", str(tmp_path / "nope.csv"), "--out", str(tmp_path)]) == 2
    assert "nope.csv does not exist" in capsys.readouterr().err


def test_iter_fer_csv_line_numbers_skip_blank_lines(tmp_path: Path) -> None:
    source = _csv(tmp_path, ["emotion,pixels,Usage", f"0,{PIXELS},Training", "", f"6,{PIXELS},PrivateTest"])
    faces = list(iter_fer_csv(source))
    assert [(f.line, f.emotion, f.split) for f in faces] == [(2, "angry", "train"), (4, "neutral", "privatetest")]
    assert faces[0].pixels.dtype == np.uint8 and faces[0].pixels.shape == (48, 48)


def test_check_reads_the_imported_tree(rows, imported: Path) -> None:
    report = check_data(imported)
    assert report.problems == [] and report.undecodable == []
    folder_of = {"Training": "train", "PublicTest": "test", "PrivateTest": "privatetest"}
    expected: dict[str, dict[str, int]] = {}
    for usage, cls, _ in rows:
        per_class = expected.setdefault(folder_of[usage], {})
        per_class[cls] = per_class.get(cls, 0) + 1
    assert report.counts == expected and report.decoded == len(rows)
