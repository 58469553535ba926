"""Import the single-CSV FER-2013 (``fer2013.csv`` / ``icml_face_data.csv``) into the folder layout the loaders read.

Each CSV row is one face: ``emotion`` (0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise,
6 neutral), ``pixels`` (2,304 space-separated integers 0-255: a 48x48 grayscale image, row by
row) and ``Usage`` (Training, PublicTest or PrivateTest). Header names are matched after
stripping spaces, so Kaggle's ``icml_face_data.csv`` (``emotion, Usage, pixels``) reads too.

Each row becomes a lossless PNG ``<root>/fer2013/<split>/<emotion>/<Usage>_<line>.png``
(Training -> ``train/``, PublicTest -> ``test/``, PrivateTest -> ``privatetest/``; ``<line>`` is
the row's line number in the CSV), so the pixels read back are exactly the CSV's. The images are
written into a temporary folder beside ``fer2013/`` that is renamed at the end: a bad row or an
interruption leaves no partial ``fer2013/``.
"""

from __future__ import annotations

import csv
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from fer_keras.constants import FER_IMAGE_SIZE
from fer_keras.data.importing import check_target_free, import_into_folder
from fer_keras.data.paths import DataError

CSV_EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""Folder name of each CSV emotion index 0..6 (the CSV's order, not the folders' alphabetical one)."""

USAGE_SPLITS: dict[str, str] = {"Training": "train", "PublicTest": "test", "PrivateTest": "privatetest"}
"""The folder each CSV ``Usage`` value is written to."""

REQUIRED_COLUMNS: tuple[str, ...] = ("emotion", "pixels", "Usage")
PIXELS_PER_IMAGE = FER_IMAGE_SIZE[0] * FER_IMAGE_SIZE[1]
TEMP_PREFIX = ".fer2013.import-"
"""Prefix of the temporary folder the import writes into (beside the final ``fer2013/``)."""

_EMOTION_HELP = ", ".join(f"{i} {name}" for i, name in enumerate(CSV_EMOTIONS))
_LINE_FIX = "Correct that line from the original download or delete it, then run the import again."


@dataclass(frozen=True)
class CsvFace:
    """One validated CSV row: its line number, Usage, emotion folder name and 48x48 uint8 pixels."""

    line: int
    usage: str
    emotion: str
    pixels: np.ndarray

    @property
    def split(self) -> str:
        """The folder of this row's Usage (``train``, ``test`` or ``privatetest``)."""
        return USAGE_SPLITS[self.usage]

    @property
    def filename(self) -> str:
        """``<Usage>_<line>.png``: the file name traces back to the CSV line."""
        return f"{self.usage}_{self.line:05d}.png"


@dataclass
class ImportResult:
    """What :func:`import_fer_csv` wrote: the new ``fer2013/`` folder and its counts per split and class."""

    fer_dir: Path
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Images written (one per CSV row)."""
        return sum(sum(per_class.values()) for per_class in self.counts.values())


def _where(path: Path, line: int) -> str:
    return f"{path}, line {line}"


def read_header(header: list[str], path: Path, line: int = 1) -> dict[str, int]:
    """Column index of ``emotion``, ``pixels`` and ``Usage`` in ``header`` (names stripped, any case).

    Raises :class:`DataError` naming the missing columns and the CSV forms the importer reads.
    """
    by_name = {name.strip().lower(): i for i, name in enumerate(header)}
    missing = [name for name in REQUIRED_COLUMNS if name.lower() not in by_name]
    if missing:
        found = ", ".join(repr(name) for name in header) or "nothing"
        raise DataError(
            f"{_where(path, line)} (header): missing column(s) {', '.join(missing)}; found {found}. The importer "
            "needs the columns emotion, pixels and Usage, as in fer2013.csv (header 'emotion,pixels,Usage') or "
            "icml_face_data.csv ('emotion, Usage, pixels'). Kaggle's train.csv/test.csv have no Usage column: "
            "use fer2013.csv or icml_face_data.csv instead, or add the header line if it is missing."
        )
    return {name: by_name[name.lower()] for name in REQUIRED_COLUMNS}


def parse_emotion(text: str, path: Path, line: int) -> str:
    """The folder name of an emotion index ``"0"``..``"6"``; :class:`DataError` otherwise."""
    value = text.strip()
    if value.isascii() and value.isdigit() and int(value) < len(CSV_EMOTIONS):
        return CSV_EMOTIONS[int(value)]
    raise DataError(
        f"{_where(path, line)}: emotion {text!r} is not an emotion index 0-6 ({_EMOTION_HELP}). {_LINE_FIX}"
    )


def parse_usage(text: str, path: Path, line: int) -> str:
    """``Training``, ``PublicTest`` or ``PrivateTest`` (surrounding spaces ignored); :class:`DataError` otherwise."""
    value = text.strip()
    if value in USAGE_SPLITS:
        return value
    raise DataError(
        f"{_where(path, line)}: Usage {text!r} is not one of {', '.join(USAGE_SPLITS)} (spelling and case "
        f"matter). {_LINE_FIX}"
    )


def _pixel_problem(tokens: list[str]) -> str | None:
    """Why ``tokens`` are not 2,304 integers 0-255 (the slow, exact diagnosis); None if they are."""
    for position, token in enumerate(tokens, start=1):
        if not (token.isascii() and token.isdigit()) or int(token) > 255:
            return f"value {position} of the pixels is {token[:20]!r}, not an integer 0-255"
    if not tokens:
        return "the pixels field is empty"
    if len(tokens) != PIXELS_PER_IMAGE:
        return f"the pixels field holds {len(tokens)} values, not {PIXELS_PER_IMAGE}"
    return None


def parse_pixels(text: str, path: Path, line: int) -> np.ndarray:
    """A 48x48 uint8 image from 2,304 space-separated integers 0-255; :class:`DataError` otherwise."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy < 2.3 only warns (and stops early) at a token it cannot read
        try:
            values = np.fromstring(text, dtype=np.int64, sep=" ")
        except (ValueError, DeprecationWarning):
            values = np.empty(0, dtype=np.int64)
    if values.size != PIXELS_PER_IMAGE or values.min() < 0 or values.max() > 255:
        tokens = text.split()  # the fast parse failed: find out why, token by token
        problem = _pixel_problem(tokens)
        if problem:
            raise DataError(
                f"{_where(path, line)}: {problem} (a 48x48 grayscale face: {PIXELS_PER_IMAGE} integers 0-255 "
                f"separated by spaces). {_LINE_FIX}"
            )
        values = np.array([int(token) for token in tokens])  # e.g. separated by other whitespace
    return values.astype(np.uint8).reshape(FER_IMAGE_SIZE)


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise DataError(f"CSV file {path} does not exist. Pass the path of fer2013.csv (or icml_face_data.csv).")


def count_csv_rows(csv_path: str | os.PathLike) -> int:
    """Lines after the header (an upper bound on the rows, for the progress bar)."""
    lines, last = 0, b"\n"
    with Path(csv_path).open("rb") as handle:
        while block := handle.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
    return max(0, lines + (last != b"\n") - 1)


def iter_fer_csv(csv_path: str | os.PathLike) -> Iterator[CsvFace]:
    """Validated rows of a FER-2013 CSV, in file order; blank lines are skipped.

    Raises :class:`DataError` at the first bad row, naming the file, its line number (the
    header is line 1) and the fix.
    """
    path = Path(csv_path)
    _require_file(path)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        try:
            header = next((row for row in reader if row), None)  # blank lines before the header are skipped
            if header is None:
                raise DataError(f"CSV file {path} is empty. Download fer2013.csv again.")
            columns = read_header(header, path, reader.line_num)
            line = reader.line_num + 1
            for row in reader:
                if row:
                    yield _parse_row(row, columns, len(header), path, line)
                line = reader.line_num + 1
        except csv.Error as exc:
            raise DataError(f"{_where(path, reader.line_num)}: not valid CSV ({exc}). {_LINE_FIX}") from exc
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{path} is not a text CSV file ({exc}). Pass fer2013.csv or icml_face_data.csv, unzipped."
            ) from exc


def _parse_row(row: list[str], columns: dict[str, int], width: int, path: Path, line: int) -> CsvFace:
    if len(row) != width:
        raise DataError(
            f"{_where(path, line)}: {len(row)} field(s), the header has {width}. A comma is missing or extra. "
            f"{_LINE_FIX}"
        )
    return CsvFace(
        line=line,
        usage=parse_usage(row[columns["Usage"]], path, line),
        emotion=parse_emotion(row[columns["emotion"]], path, line),
        pixels=parse_pixels(row[columns["pixels"]], path, line),
    )


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit=" rows", desc="import", disable=not enabled, mininterval=0.5, leave=True)


def _write_images(csv_path: Path, folder: Path, total: int, progress: bool) -> dict[str, dict[str, int]]:
    """Write every row of ``csv_path`` as ``folder/<split>/<emotion>/<Usage>_<line>.png``; counts per split/class."""
    counts: dict[str, dict[str, int]] = {}
    with _progress(total, progress) as bar:
        for face in iter_fer_csv(csv_path):
            per_class = counts.setdefault(face.split, {})
            if face.emotion not in per_class:
                (folder / face.split / face.emotion).mkdir(parents=True, exist_ok=True)
                per_class[face.emotion] = 0
            Image.fromarray(face.pixels).save(folder / face.split / face.emotion / face.filename, format="PNG")
            per_class[face.emotion] += 1
            bar.update()
    if not counts:
        raise DataError(f"{csv_path} holds a header but no rows. Download fer2013.csv again.")
    return {split: dict(sorted(per_class.items())) for split, per_class in sorted(counts.items())}


def import_fer_csv(
    csv_path: str | os.PathLike, data_root: str | os.PathLike, *, progress: bool = False
) -> ImportResult:
    """Convert a FER-2013 CSV into ``<data_root>/fer2013/{train,test,privatetest}/<emotion>/*.png``.

    ``data_root`` is created if needed; an existing ``<data_root>/fer2013`` is never overwritten
    (:class:`DataError`). The PNGs go to a temporary folder beside it that is renamed at the end,
    and removed on any error or interruption. ``progress`` shows a progress bar on stderr.
    """
    csv_path, root = Path(csv_path), Path(data_root).expanduser()
    target = root / "fer2013"
    _require_file(csv_path)
    check_target_free(target)  # before the rows are counted
    total = count_csv_rows(csv_path)
    counts = import_into_folder(target, TEMP_PREFIX, lambda temp: _write_images(csv_path, temp, total, progress))
    return ImportResult(target.resolve(), counts)
