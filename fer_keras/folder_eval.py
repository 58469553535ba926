"""Evaluate a saved model on any folder of class sub-folders (FER-2013 or another FER-style set)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from fer_keras.data.fer import IMAGE_SUFFIXES, check_images, flow_frame
from fer_keras.errors import DataError
from fer_keras.evaluation import evaluate_model
from fer_keras.saving import load_class_names, load_model

CLASS_ALIASES: dict[str, str] = {
    "anger": "angry",
    "angry": "angry",
    "disgusted": "disgust",
    "disgust": "disgust",
    "fearful": "fear",
    "fear": "fear",
    "afraid": "fear",
    "happiness": "happy",
    "happy": "happy",
    "joy": "happy",
    "neutral": "neutral",
    "sadness": "sad",
    "sad": "sad",
    "surprised": "surprise",
    "surprise": "surprise",
}
"""Folder names of other facial-expression data sets mapped to FER-2013 class names.

Only true synonyms (CK+, KDEF, RAVDESS and AffectNet spellings of the same emotion): ``calm`` is
not ``neutral`` (RAVDESS has both), and ``contempt`` is no FER-2013 class.
"""


def match_class_folders(folders: Sequence[str], class_names: Sequence[str]) -> dict[str, str]:
    """Map each folder name to a class name (case-insensitive, with :data:`CLASS_ALIASES`).

    Raises :class:`DataError` naming every folder that matches no class, and every pair of
    folders that would be merged into one class (``happy/`` and ``happiness/``, ``Happy/`` and ``happy/``).
    """
    by_key = {name.lower(): name for name in class_names}
    mapping, unmatched = {}, []
    for folder in folders:
        key = folder.lower()
        target = by_key.get(key) or by_key.get(CLASS_ALIASES.get(key, ""))
        if target is None:
            unmatched.append(folder)
        else:
            mapping[folder] = target
    if unmatched:
        raise DataError(
            f"Folder(s) {', '.join(unmatched)} match no class of the model ({', '.join(class_names)}). "
            "Rename or remove those folders, or pass --classes with the model's class names in output order."
        )
    by_class: dict[str, list[str]] = {}
    for folder, cls in mapping.items():
        by_class.setdefault(cls, []).append(folder)
    merged = [f"{' and '.join(folders)} (both class {cls})" for cls, folders in by_class.items() if len(folders) > 1]
    if merged:
        raise DataError(
            f"Folders {'; '.join(merged)} map to the same class of the model. "
            "Keep one folder per class: merge or remove the others."
        )
    return mapping


def match_data_folders(data_dir: str | os.PathLike, class_names: Sequence[str]) -> dict[str, str]:
    """:func:`match_class_folders` on the sub-folders of ``data_dir``, in sorted order."""
    return match_class_folders(sorted(p.name for p in Path(data_dir).iterdir() if p.is_dir()), class_names)


def absent_classes(frame: pd.DataFrame, class_names: Sequence[str]) -> list[str]:
    """The classes of ``class_names`` with no images in ``frame`` (no folder, or a folder without images)."""
    present = set(frame["class"])
    return [name for name in class_names if name not in present]


def folder_frame(data_dir: str | os.PathLike, mapping: Mapping[str, str]) -> pd.DataFrame:
    """Image files of each matched folder with their class name."""
    rows = [
        (str(path), cls)
        for folder, cls in mapping.items()
        for path in sorted((Path(data_dir) / folder).iterdir())
        if path.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not rows:
        raise DataError(f"No images found under {data_dir}/<class>/. Put images in one folder per class.")
    return pd.DataFrame(rows, columns=["filename", "class"])


def evaluate_folder(
    model_path: str | os.PathLike,
    data_dir: str | os.PathLike,
    classes: Sequence[str] | None = None,
    batch_size: int = 64,
    *,
    allow_missing_classes: bool = False,
) -> dict:
    """Evaluate the model at ``model_path`` on ``data_dir/<class>/*`` images; returns the metrics dict.

    Class names come from ``classes`` or the ``.classes.json`` saved beside the model.
    Images are converted to the model's input size and channels (grayscale or RGB).
    A class of the model without images is a :class:`DataError` unless ``allow_missing_classes``;
    then the per-class report and macro/weighted F1 cover the classes present only, and the result
    names them (``classes_present``, ``classes_absent``, ``note``). Accuracy and the confusion matrix
    always count every prediction, including those of absent classes.
    """
    model_path, data_dir = Path(model_path), Path(data_dir)
    if not model_path.exists():
        raise DataError(f"Model file {model_path} does not exist. Train one with `python -m fer_keras train ...`.")
    if not data_dir.is_dir():
        raise DataError(f"Data folder {data_dir} does not exist. Pass a folder of class sub-folders with --data.")
    class_names = list(classes) if classes else load_class_names(model_path)
    if not class_names:
        raise DataError(
            f"No class names for {model_path}: no {model_path.stem}.classes.json beside it. "
            "Pass --classes with the model's class names in output order."
        )
    model = load_model(model_path)
    outputs = int(model.output_shape[-1])
    if outputs != len(class_names):
        raise DataError(
            f"Model {model_path} predicts {outputs} classes but {len(class_names)} class names were given "
            f"({', '.join(class_names)}). Pass --classes with exactly {outputs} names in the model's output order."
        )
    mapping = match_data_folders(data_dir, class_names)
    frame = folder_frame(data_dir, mapping)
    absent = absent_classes(frame, class_names)
    if absent and not allow_missing_classes:
        raise DataError(
            f"Class(es) {', '.join(absent)} of the model have no images under {data_dir} "
            f"(expected e.g. {data_dir / absent[0]}/). Macro-F1 would count them as 0. Add a folder of images "
            "for each, or pass --allow-missing-classes to score the classes present only."
        )
    check_images(list(frame["filename"]))
    height, width, channels = model.input_shape[1:4]
    iterator = flow_frame(
        frame,
        class_names,
        batch_size=batch_size,
        image_size=(height, width),
        color_mode="grayscale" if channels == 1 else "rgb",
    )
    present = [name for name in class_names if name not in absent]
    scored = [class_names.index(name) for name in present] if absent else None
    metrics = evaluate_model(model, iterator, class_names, scored_labels=scored)
    result = {
        "model": str(model_path),
        "data": str(data_dir),
        "class_names": class_names,
        "folders": dict(mapping),
        "classes_present": present,
        "classes_absent": absent,
        **metrics,
    }
    if absent:
        result["note"] = (
            f"No images of {', '.join(absent)}: the report, macro-F1 and weighted F1 cover the "
            f"{len(present)} classes present only; accuracy and the confusion matrix count every prediction."
        )
    return result
