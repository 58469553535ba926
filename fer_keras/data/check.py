"""Check a data root: FER-2013 counts against the published ones, undecodable files, duplicates, Fashion-MNIST,
CIFAR-10.

``problems`` are what the experiments need and cannot find (a split or class folder, a
readable image, an intact IDX file): the command line exits non-zero on them. ``notes`` are
differences that do not stop a run (counts other than the published ones, the optional
``privatetest/`` split, no local Fashion-MNIST when Keras can download it).

Duplicates are found by a BLAKE2b hash of each image's decoded 8-bit grayscale pixels (what
the loaders feed the model, before resizing), so the same face stored as JPEG in one split and
re-encoded as PNG in another still counts; nothing is deleted.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from fer_keras.constants import CIFAR10_CLASSES, FASHION_IMAGE_SIZE, FER7_CLASSES
from fer_keras.data.cifar_import import TEMP_PREFIX as CIFAR_TEMP_PREFIX
from fer_keras.data.fashion import FASHION_FILES, read_idx
from fer_keras.data.fer import IMAGE_SUFFIXES
from fer_keras.data.fer_csv import TEMP_PREFIX, USAGE_SPLITS
from fer_keras.data.paths import resolve_data_root

PUBLISHED_FER_COUNTS: dict[str, dict[str, int]] = {
    "train": {
        "angry": 3995,
        "disgust": 436,
        "fear": 4097,
        "happy": 7215,
        "neutral": 4965,
        "sad": 4830,
        "surprise": 3171,
    },
    "test": {"angry": 467, "disgust": 56, "fear": 496, "happy": 895, "neutral": 607, "sad": 653, "surprise": 415},
    "privatetest": {
        "angry": 491,
        "disgust": 55,
        "fear": 528,
        "happy": 879,
        "neutral": 626,
        "sad": 594,
        "surprise": 416,
    },
}
"""Images per class of FER-2013's Training (28,709), PublicTest (3,589) and PrivateTest (3,589) parts."""

PUBLISHED_FASHION_SIZES: dict[str, int] = {"train": 60000, "test": 10000}
PUBLISHED_CIFAR10_PER_CLASS: dict[str, int] = {"train": 5000, "test": 1000}
"""CIFAR-10's images per class in each split (balanced: 50,000 and 10,000 in all)."""
FER_SPLITS: tuple[str, ...] = ("train", "test", "privatetest")
REQUIRED_FER_SPLITS: tuple[str, ...] = ("train", "test")
SPLIT_USAGE: dict[str, str] = {split: usage for usage, split in USAGE_SPLITS.items()}
HASH_METHOD = "BLAKE2b of the decoded 8-bit grayscale pixels"
_CHUNK = 1024
_IMPORT_HINT = "if you have fer2013.csv, run `python -m fer_keras data import-csv fer2013.csv --out DATA_ROOT`"


@dataclass
class Duplicates:
    """Identical images (same pixel hash) across and within splits; ``relabelled``: across, with another class."""

    across: dict[tuple[str, str], int] = field(default_factory=dict)
    relabelled: dict[tuple[str, str], int] = field(default_factory=dict)
    within: dict[str, int] = field(default_factory=dict)


@dataclass
class DataCheck:
    """The result of :func:`check_data`."""

    root: Path
    fer_dir: Path
    counts: dict[str, dict[str, int]]
    decoded: int
    undecodable: list[str]
    duplicates: Duplicates
    fashion_dir: Path | None
    fashion_sizes: dict[str, int]
    problems: list[str]
    notes: list[str]
    cifar_dir: Path | None = None
    cifar_counts: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing the experiments need is missing or broken."""
        return not self.problems


def published_match(split: str, counts: Mapping[str, int]) -> str | None:
    """Which published FER-2013 part ``counts`` (per class) equals, e.g. ``"Training"``; None if none."""
    per_class = {name: counts.get(name, 0) for name in FER7_CLASSES}
    if split not in PUBLISHED_FER_COUNTS:
        return None
    options = {SPLIT_USAGE[split]: PUBLISHED_FER_COUNTS[split]}
    if split == "test":  # copies of the full download hold both test parts in test/
        both = {c: PUBLISHED_FER_COUNTS["test"][c] + PUBLISHED_FER_COUNTS["privatetest"][c] for c in FER7_CLASSES}
        options["PublicTest + PrivateTest"] = both
    return next((name for name, published in options.items() if published == per_class), None)


def format_count_table(counts: Mapping[str, Mapping[str, int]]) -> str:
    """Images per split and class as a text table, each split compared with its published FER-2013 counts."""
    extra = sorted({c for per_class in counts.values() for c in per_class} - set(FER7_CLASSES))
    columns = [*FER7_CLASSES, *extra]
    rows = [["split", *columns, "total", "published"]]
    for split in [*FER_SPLITS, *sorted(set(counts) - set(FER_SPLITS))]:
        if split not in counts:
            status = "missing (needed)" if split in REQUIRED_FER_SPLITS else "absent (optional)"
            rows.append([split, *["-"] * (len(columns) + 1), status])
            continue
        per_class, published = counts[split], PUBLISHED_FER_COUNTS.get(split)
        match = published_match(split, per_class)
        verdict = f"= {match}" if match else ("differs" if published else "")
        rows.append([split, *(str(per_class.get(c, "-")) for c in columns), str(sum(per_class.values())), verdict])
        if published and not match:
            cells = [str(published.get(c, "-")) for c in columns]
            rows.append(["  published", *cells, str(sum(published.values())), SPLIT_USAGE[split]])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            [row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:-1], widths[1:-1], strict=True)), row[-1]]
        )
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


def list_split(split_dir: Path) -> dict[str, list[Path]]:
    """Image files (by suffix) of each class folder of ``split_dir``, folders sorted by name."""
    return {
        folder.name: sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for folder in sorted(split_dir.iterdir())
        if folder.is_dir() and not folder.name.startswith(".")
    }


def fingerprint(path: str) -> tuple[bytes | None, str | None]:
    """(pixel hash, None) for a decodable image, (None, ``"path: error"``) otherwise."""
    try:
        with Image.open(path) as image:
            image.load()
            gray = image if image.mode == "L" else image.convert("L")
            digest = hashlib.blake2b(gray.tobytes(), digest_size=16)
            digest.update(repr(gray.size).encode())
            return digest.digest(), None
    except Exception as exc:  # noqa: BLE001 - any failure to decode is what we report
        return None, f"{path}: {type(exc).__name__}: {exc}"


def _fingerprint_chunk(paths: Sequence[str]) -> list[tuple[bytes | None, str | None]]:
    return [fingerprint(p) for p in paths]


def fingerprint_images(paths: Sequence[str], workers: int | None = None) -> list[tuple[bytes | None, str | None]]:
    """:func:`fingerprint` of every path, in order; decoding is spread over ``workers`` processes."""
    workers = max(1, workers or min(8, os.cpu_count() or 1))
    chunks = [list(paths[i : i + _CHUNK]) for i in range(0, len(paths), _CHUNK)]
    if workers == 1 or len(chunks) < 2:
        return _fingerprint_chunk(paths)
    fork = "fork" in mp.get_all_start_methods()  # PIL decodes mostly under the GIL: processes beat threads
    pool_type = ProcessPoolExecutor if fork else ThreadPoolExecutor
    kwargs = {"mp_context": mp.get_context("fork")} if fork else {}
    with pool_type(max_workers=min(workers, len(chunks)), **kwargs) as pool:
        return [result for part in pool.map(_fingerprint_chunk, chunks) for result in part]


def find_duplicates(hashes: Mapping[str, Sequence[tuple[bytes, str]]]) -> Duplicates:
    """Count identical images from ``{split: [(hash, class), ...]}`` across split pairs and within each split."""
    classes_of = {split: {} for split in hashes}
    for split, items in hashes.items():
        for digest, cls in items:
            classes_of[split].setdefault(digest, set()).add(cls)
    found = Duplicates()
    for split, items in hashes.items():
        found.within[split] = len(items) - len(classes_of[split])
    splits = [s for s in FER_SPLITS if s in hashes]
    for i, first in enumerate(splits):
        for second in splits[i + 1 :]:
            shared = [(d, c) for d, c in hashes[second] if d in classes_of[first]]
            found.across[(first, second)] = len(shared)
            found.relabelled[(first, second)] = sum(c not in classes_of[first][d] for d, c in shared)
    return found


def _check_fer_folders(fer_dir: Path, listing: dict[str, dict[str, list[Path]]]) -> tuple[list[str], list[str]]:
    problems, notes = [], []
    for split in FER_SPLITS:
        split_dir = fer_dir / split
        if split not in listing:
            if split in REQUIRED_FER_SPLITS:
                problems.append(
                    f"{split_dir} is missing: the experiments read fer2013/{split}/<emotion>/. "
                    f"Add it, or {_IMPORT_HINT}."
                )
            else:
                notes.append(f"{split_dir} is absent (optional: `data import-csv` makes it from PrivateTest rows).")
            continue
        per_class = listing[split]
        for cls in FER7_CLASSES:
            if cls not in per_class or not per_class[cls]:
                what = "is missing" if cls not in per_class else "holds no images"
                text = f"class folder {split_dir / cls} {what}"
                if split in REQUIRED_FER_SPLITS:
                    problems.append(f"{text}: fer7 needs all seven emotions ({', '.join(FER7_CLASSES)}). Add it.")
                else:
                    notes.append(f"{text}.")
        for cls in sorted(set(per_class) - set(FER7_CLASSES)):
            notes.append(f"{split_dir / cls} is not a FER-2013 emotion folder; the experiments ignore it.")
        counts = {cls: len(files) for cls, files in per_class.items()}
        if split in PUBLISHED_FER_COUNTS and not published_match(split, counts):
            notes.append(
                f"{split}/ holds {sum(counts.values())} images, not the published {SPLIT_USAGE[split]} counts "
                f"({sum(PUBLISHED_FER_COUNTS[split].values())}); see the 'published' row."
            )
    return problems, notes


def check_fashion(root: Path) -> tuple[Path | None, dict[str, int], list[str], list[str]]:
    """(folder, images per split, problems, notes) of the local Fashion-MNIST IDX files under ``root``."""
    folder = root / "fashion-mnist"
    if not folder.is_dir():
        note = (
            f"No local Fashion-MNIST ({folder}): the fashion experiments download it with "
            "keras.datasets.fashion_mnist.load_data() (needs network once), or put the four IDX files there."
        )
        return None, {}, [], [note]
    sizes, problems, notes, missing = {}, [], [], []
    for split, names in FASHION_FILES.items():
        arrays = []
        for name in names:
            if not (folder / name).is_file():
                missing.append(name)
                continue
            try:
                arrays.append(read_idx(folder / name))
            except ValueError as exc:  # DataError: malformed or truncated IDX
                problems.append(str(exc))
        if len(arrays) < 2:
            continue
        images, labels = arrays
        if images.shape[1:] != FASHION_IMAGE_SIZE or labels.shape != images.shape[:1] or labels.max(initial=0) > 9:
            problems.append(
                f"{folder / names[0]} {images.shape} and {folder / names[1]} {labels.shape} are not N 28x28 "
                "images with N labels 0-9. Replace them with the original files."
            )
            continue
        sizes[split] = len(labels)
        if len(labels) != PUBLISHED_FASHION_SIZES[split]:
            notes.append(
                f"Fashion-MNIST {split} holds {len(labels)} images, published {PUBLISHED_FASHION_SIZES[split]}."
            )
    if missing:
        problems.insert(0, f"{folder} lacks {', '.join(missing)}: put all four IDX files there (or remove the folder).")
    return folder, sizes, problems, notes


def undecodable_problem(errors: Sequence[str], what: str) -> str:
    """The problem line for undecodable files: the count, the first 20 ``path: error`` lines, the fix."""
    shown = "\n    ".join(errors[:20])
    more = f"\n    ... and {len(errors) - 20} more" if len(errors) > 20 else ""
    return f"{len(errors)} {what} cannot be decoded:\n    {shown}{more}\n  Remove or replace them."


def check_cifar10(root: Path, workers: int | None = None) -> tuple[Path | None, dict, list[str], list[str]]:
    """(folder, images per split and class, problems, notes) of ``root/cifar10/{train,test}/<class>/``.

    Every image is decoded once; counts other than CIFAR-10's (5,000 / 1,000 per class) are notes.
    """
    folder = root / "cifar10"
    if not folder.is_dir():
        note = (
            f"No CIFAR-10 ({folder}): the cifar10 experiment needs {folder}/{{train,test}}/<class>/ images; "
            "convert the original archive with `python -m fer_keras data import-cifar10 cifar-10-python.tar.gz`."
        )
        return None, {}, [], [note]
    counts, problems, notes, paths = {}, [], [], []
    for split, per_class in PUBLISHED_CIFAR10_PER_CLASS.items():
        if not (folder / split).is_dir():
            problems.append(f"{folder / split} is missing: CIFAR-10 needs train/ and test/ class folders.")
            continue
        listing = list_split(folder / split)
        missing = [name for name in CIFAR10_CLASSES if not listing.get(name)]
        if missing:
            problems.append(f"{folder / split} has no images of {', '.join(missing)}: add those class folders.")
        counts[split] = {name: len(listing.get(name, [])) for name in CIFAR10_CLASSES}
        paths += [str(p) for name in CIFAR10_CLASSES for p in listing.get(name, [])]
        differs = {name: n for name, n in counts[split].items() if n != per_class}
        if differs and not missing:
            notes.append(f"CIFAR-10 {split} differs from the published {per_class:,} per class: {differs}.")
    undecodable = [error for _, error in fingerprint_images(paths, workers) if error]
    if undecodable:
        problems.append(undecodable_problem(undecodable, "CIFAR-10 image(s)"))
    return folder, counts, problems, notes


def check_data(data_dir: str | os.PathLike | None = None, *, workers: int | None = None) -> DataCheck:
    """Check the data root (argument, ``$FER_KERAS_DATA`` or ``./data``): folders, counts, decoding, duplicates."""
    root = resolve_data_root(data_dir)
    fer_dir = root / "fer2013" if (root / "fer2013").is_dir() else root
    listing = {split: list_split(fer_dir / split) for split in FER_SPLITS if (fer_dir / split).is_dir()}
    problems, notes = _check_fer_folders(fer_dir, listing)
    files = [(split, cls, str(p)) for split, per_class in listing.items() for cls, ps in per_class.items() for p in ps]
    results = fingerprint_images([path for _, _, path in files], workers)
    undecodable = [error for _, error in results if error]
    if undecodable:
        problems.append(undecodable_problem(undecodable, "image file(s)"))
    hashes: dict[str, list[tuple[bytes, str]]] = {split: [] for split in listing}
    for (split, cls, _), (digest, _) in zip(files, results, strict=True):
        if digest is not None:
            hashes[split].append((digest, cls))
    for leftover in sorted(root.glob(f"{TEMP_PREFIX}*")):
        notes.append(f"{leftover} was left by an interrupted `data import-csv`; delete it.")
    for leftover in sorted(root.glob(f"{CIFAR_TEMP_PREFIX}*")):
        notes.append(f"{leftover} was left by an interrupted `data import-cifar10`; delete it.")
    fashion_dir, fashion_sizes, fashion_problems, fashion_notes = check_fashion(root)
    cifar_dir, cifar_counts, cifar_problems, cifar_notes = check_cifar10(root, workers)
    return DataCheck(
        root=root,
        fer_dir=fer_dir,
        counts={split: {cls: len(ps) for cls, ps in per_class.items()} for split, per_class in listing.items()},
        decoded=len(files) - len(undecodable),
        undecodable=undecodable,
        duplicates=find_duplicates(hashes),
        fashion_dir=fashion_dir,
        fashion_sizes=fashion_sizes,
        problems=problems + fashion_problems + cifar_problems,
        notes=notes + fashion_notes + cifar_notes,
        cifar_dir=cifar_dir,
        cifar_counts=cifar_counts,
    )


def format_check(check: DataCheck) -> str:
    """The readable report of :func:`check_data` (table, decoding, duplicates, Fashion-MNIST, problems, notes)."""
    lines = [f"Data root: {check.root}", f"FER-2013 ({check.fer_dir}), images per class:"]
    lines += ["  " + line for line in format_count_table(check.counts).splitlines()]
    lines.append(f"Decoded {check.decoded} images; undecodable: {len(check.undecodable) or 'none'}.")
    dup = check.duplicates
    lines.append(f"Duplicates ({HASH_METHOD}; reported, not deleted):")
    for (first, second), count in dup.across.items():
        relabelled = dup.relabelled[(first, second)]
        lines.append(
            f"  {second} images identical to a {first} image: {count} ({relabelled} of them with another label)"
        )
    lines.append("  repeated within a split: " + ", ".join(f"{s} {n}" for s, n in dup.within.items()))
    if check.fashion_dir is not None:
        sizes = ", ".join(f"{s} {n} (published {PUBLISHED_FASHION_SIZES[s]})" for s, n in check.fashion_sizes.items())
        lines.append(f"Fashion-MNIST ({check.fashion_dir}): {sizes or 'unreadable'}")
    if check.cifar_dir is not None:
        sizes = ", ".join(
            f"{split} {sum(per_class.values()):,} (published {PUBLISHED_CIFAR10_PER_CLASS[split] * 10:,}, "
            f"{min(per_class.values()):,}-{max(per_class.values()):,} per class)"
            for split, per_class in check.cifar_counts.items()
        )
        lines.append(f"CIFAR-10 ({check.cifar_dir}): {sizes or 'no split folders'}")
    if check.problems:
        lines.append("Problems (the experiments need these fixed):")
        lines += [f"  - {p}" for p in check.problems]
    if check.notes:
        lines.append("Notes:")
        lines += [f"  - {n}" for n in check.notes]
    verdict = (
        "OK: everything the experiments read is present." if check.ok else f"FAILED: {len(check.problems)} problem(s)."
    )
    lines.append(verdict)
    return "\n".join(lines)
