"""``data check``: published counts and duplicates on the real data; missing, broken and extra parts on small trees."""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import struct
import time
from pathlib import Path

import pytest

from fer_keras import cli
from fer_keras.constants import FER7_CLASSES
from fer_keras.data.check import PUBLISHED_FER_COUNTS, check_data, find_duplicates, published_match

DUPLICATE_LINE = re.compile(r"test images identical to a train image: (\d+) \((\d+) of them with another label\)")


def table_row(out: str, first: str) -> list[str]:
    """The cells after ``first`` of the first output line starting with ``first``."""
    return next(line.split()[1:] for line in out.splitlines() if line.split()[:1] == [first])


def byte_duplicates(fer_dir: Path) -> tuple[int, int]:
    """Independent count: test files whose bytes equal a train file's, and how many of those under another class."""
    train: dict[bytes, set[str]] = {}
    for path in (fer_dir / "train").glob("*/*"):
        train.setdefault(hashlib.sha256(path.read_bytes()).digest(), set()).add(path.parent.name)
    shared = relabelled = 0
    for path in (fer_dir / "test").glob("*/*"):
        classes = train.get(hashlib.sha256(path.read_bytes()).digest())
        if classes:
            shared += 1
            relabelled += path.parent.name not in classes
    return shared, relabelled


def test_real_data_matches_published_counts(data_root: Path, capsys: pytest.CaptureFixture) -> None:
    start = time.perf_counter()
    status = cli.main(["data", "check", str(data_root)])
    seconds = time.perf_counter() - start
    out = capsys.readouterr().out
    assert status == 0, out
    assert table_row(out, "split") == [*FER7_CLASSES, "total", "published"]
    assert table_row(out, "train") == ["3995", "436", "4097", "7215", "4965", "4830", "3171", "28709", "=", "Training"]
    assert table_row(out, "test") == ["467", "56", "496", "895", "607", "653", "415", "3589", "=", "PublicTest"]
    assert "Decoded 32298 images; undecodable: none." in out
    assert "Fashion-MNIST" in out and "train 60000 (published 60000), test 10000 (published 10000)" in out
    # the same JPEG bytes decode to the same pixels, so hashing the files independently must find them all
    shared, relabelled = DUPLICATE_LINE.search(out).groups()
    assert (int(shared), int(relabelled)) == byte_duplicates(data_root / "fer2013")
    assert int(shared) > 0  # FER-2013 is known to hold some
    assert out.rstrip().endswith("OK: everything the experiments read is present.")
    print(f"data check on the real data: {seconds:.1f} s")


def test_missing_class_folder_fails_naming_it(make_fer_tree, capsys: pytest.CaptureFixture) -> None:
    classes = [c for c in FER7_CLASSES if c != "disgust"]
    root = make_fer_tree(classes, per_class=2)
    assert cli.main(["data", "check", str(root)]) == 1
    out = capsys.readouterr().out
    missing = root / "fer2013" / "test" / "disgust"
    assert f"class folder {missing} is missing" in out and "Problems" in out
    assert out.rstrip().endswith("FAILED: 2 problem(s).")  # train/disgust and test/disgust


def test_undecodable_duplicates_and_extra_folders(make_fer_tree, capsys: pytest.CaptureFixture) -> None:
    root = make_fer_tree(FER7_CLASSES, per_class=2)
    fer = root / "fer2013"
    good = sorted((fer / "train" / "happy").glob("*.jpg"))[0]
    broken = fer / "test" / "happy" / "broken.jpg"
    broken.write_bytes(good.read_bytes()[:200])
    shutil.copy(good, fer / "test" / "sad" / "copy_of_train_happy.jpg")  # a duplicate with another label
    shutil.copy(good, fer / "test" / "happy" / "copy_of_train_happy.jpg")  # and one with the same label
    (fer / "train" / "Happiness").mkdir()
    assert cli.main(["data", "check", str(root)]) == 1
    out = capsys.readouterr().out
    assert "1 image file(s) cannot be decoded" in out and str(broken) in out
    assert DUPLICATE_LINE.search(out).groups() == ("2", "1")
    assert f"{fer / 'train' / 'Happiness'} is not a FER-2013 emotion folder" in out
    assert "differs" in out and "published" in out


def test_small_complete_tree_passes_with_notes(make_fer_tree, capsys: pytest.CaptureFixture) -> None:
    root = make_fer_tree(FER7_CLASSES, per_class=1)
    assert cli.main(["data", "check", str(root)]) == 0
    out = capsys.readouterr().out
    assert table_row(out, "published")[:8] == ["3995", "436", "4097", "7215", "4965", "4830", "3171", "28709"]
    assert "No local Fashion-MNIST" in out and "keras.datasets.fashion_mnist.load_data()" in out
    assert "privatetest is absent (optional" in out
    assert "interrupted" not in out
    (root / ".fer2013.import-abc123").mkdir()  # what a killed import (SIGKILL: no cleanup) leaves
    assert cli.main(["data", "check", str(root)]) == 0
    assert f"{root / '.fer2013.import-abc123'} was left by an interrupted `data import-csv`" in capsys.readouterr().out


def test_broken_fashion_folder_is_a_problem(make_fer_tree) -> None:
    root = make_fer_tree(FER7_CLASSES, per_class=1)
    folder = root / "fashion-mnist"
    folder.mkdir()
    header = struct.pack(">IIII", 0x00000803, 60000, 28, 28)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + bytes(28 * 28)))  # 1 image, not 60000
    report = check_data(root)
    assert not report.ok
    problems = "\n".join(report.problems)
    assert "truncated or padded" in problems and "train-images-idx3-ubyte.gz" in problems
    assert "lacks train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz" in problems


def test_missing_data_root_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["data", "check", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nowhere" in err


def test_published_match_and_totals() -> None:
    assert {split: sum(c.values()) for split, c in PUBLISHED_FER_COUNTS.items()} == {
        "train": 28709,
        "test": 3589,
        "privatetest": 3589,
    }
    both = {c: PUBLISHED_FER_COUNTS["test"][c] + PUBLISHED_FER_COUNTS["privatetest"][c] for c in FER7_CLASSES}
    assert published_match("test", PUBLISHED_FER_COUNTS["test"]) == "PublicTest"
    assert published_match("test", both) == "PublicTest + PrivateTest"  # a full download keeps both in test/
    assert published_match("privatetest", PUBLISHED_FER_COUNTS["privatetest"]) == "PrivateTest"
    assert published_match("train", {**PUBLISHED_FER_COUNTS["train"], "disgust": 435}) is None


def test_find_duplicates_counts() -> None:
    found = find_duplicates(
        {
            "train": [(b"a", "happy"), (b"a", "happy"), (b"b", "sad")],
            "test": [(b"a", "happy"), (b"b", "angry"), (b"c", "sad")],
            "privatetest": [(b"c", "sad"), (b"d", "sad")],
        }
    )
    assert found.within == {"train": 1, "test": 0, "privatetest": 0}
    assert found.across == {("train", "test"): 2, ("train", "privatetest"): 0, ("test", "privatetest"): 1}
    assert found.relabelled == {("train", "test"): 1, ("train", "privatetest"): 0, ("test", "privatetest"): 0}
