"""Compact copies of trained models, small enough to commit beside their cards.

A trained FER CNN (7.8 M parameters) is a 31 MB ``.keras`` file in float32, twice that with
its optimizer state. :func:`save_compact_model` writes an inference copy of at most
:data:`MAX_MODEL_BYTES` (16 MiB): no optimizer, float32 compute (a model trained under
``mixed_bfloat16`` becomes a float32 one), and its kernels stored as float16 in the archive's
``model.weights.h5``, and without its training-only augmentation layers. Plain
``keras.saving.load_model`` reads it on any machine, in a process that never imported fer_keras:
Keras casts each stored array to its variable's dtype, so the loaded model is float32 throughout.

:func:`publish_model` turns a recorded full-profile run into the committed files: it writes
``models/<experiment>.keras`` (+ ``.classes.json``) under the run's output folder, measures how
far the compact copy's test predictions are from the trained model's, and re-writes the run's
metrics JSON and model card so that the card's "How to Use" snippet loads the committed file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import h5py
import keras
import numpy as np

from fer_keras.describe import describe_dtype_policy
from fer_keras.evaluation import predict_labels, true_labels
from fer_keras.io import atomic_write_json, atomic_write_text
from fer_keras.presets import CHECKSUMS, file_sha256, read_checksums
from fer_keras.saving import classes_path, write_class_names

MAX_MODEL_BYTES = 16 * 1024 * 1024
"""Largest model file the accelerator machine returns (16 MiB), hence the largest we commit."""

WEIGHTS_MEMBER = "model.weights.h5"
"""The weights file inside a ``.keras`` archive (Keras' own name for it)."""

LOW_PRECISION_POLICIES = frozenset({"mixed_bfloat16", "mixed_float16", "bfloat16", "float16"})
"""Dtype policies replaced by ``float32`` in a compact copy."""

PUBLISHED_MODELS_DIR = "fer_keras/assets"
"""Folder, relative to the repository root (the cpu profile's output base), of the published models: package data."""


@dataclass(frozen=True)
class CompactModel:
    """What :func:`save_compact_model` wrote."""

    path: Path
    bytes: int
    float16_arrays: int  # kernels stored as float16
    other_arrays: int  # biases, BatchNorm statistics, integer state: stored as they were
    parameters: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (path as a string)."""
        return {**asdict(self), "path": str(self.path)}


def float32_config(config: Any) -> Any:
    """A copy of a serialized Keras config with every low-precision dtype policy replaced by ``float32``."""
    if isinstance(config, Mapping):
        if config.get("class_name") == "DTypePolicy" and config.get("config", {}).get("name") in LOW_PRECISION_POLICIES:
            return {**config, "config": {**config["config"], "name": "float32"}}
        return {key: float32_config(value) for key, value in config.items()}
    if isinstance(config, list):
        return [float32_config(value) for value in config]
    return config


TRAINING_ONLY_LAYERS = frozenset(
    {"RandomAffine", "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "RandomContrast"}
)
"""Augmentation layers (identity at inference, shape-preserving) that a published copy leaves out."""


def _is_training_only(layer_config: Mapping[str, Any]) -> bool:
    """An augmentation layer, or a nested Sequential made of nothing else (keras-io's ``data_augmentation``)."""
    if layer_config.get("class_name") in TRAINING_ONLY_LAYERS:
        return True
    inner = layer_config.get("config", {}).get("layers") if layer_config.get("class_name") == "Sequential" else None
    steps = [layer for layer in inner or [] if layer.get("class_name") != "InputLayer"]
    return bool(steps) and all(_is_training_only(layer) for layer in steps)


def _rewire(value: Any, replaced: Mapping[str, list]) -> Any:
    """``value`` with every ``keras_history`` that names a removed layer pointing at that layer's input."""
    if isinstance(value, Mapping):
        history = value.get("keras_history")
        if isinstance(history, (list, tuple)) and history and history[0] in replaced:
            return {**value, "keras_history": replaced[history[0]]}
        return {key: _rewire(item, replaced) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rewire(item, replaced) for item in value]
    return value


def without_training_layers(config: Mapping[str, Any]) -> dict[str, Any]:
    """A serialized Functional or Sequential model without its augmentation layers (:data:`TRAINING_ONLY_LAYERS`).

    In a Functional model each consumer of a removed layer is wired to that layer's own input, so the
    copy computes what the model computes at inference. Raises ``ValueError`` when an augmentation
    layer is an output of the model or takes more than one input.
    """
    body = dict(config["config"])
    kept, replaced = [], {}
    for layer in body["layers"]:
        if not _is_training_only(layer):
            kept.append(layer)
            continue
        if config["class_name"] == "Sequential":
            continue
        nodes = layer.get("inbound_nodes", [])
        args = nodes[0]["args"] if len(nodes) == 1 else []
        if len(args) != 1 or "keras_history" not in args[0].get("config", {}):
            raise ValueError(f"Cannot drop layer {layer['name']!r}: it does not take exactly one input tensor.")
        history = list(args[0]["config"]["keras_history"])
        replaced[layer["name"]] = replaced.get(history[0], history)  # a chain of removed layers: its first input
    outputs = body.get("output_layers", [])
    outputs = [outputs] if outputs and isinstance(outputs[0], str) else outputs  # one output: [name, node, tensor]
    if any(output[0] in replaced for output in outputs):
        raise ValueError("An augmentation layer is an output of the model: there is nothing to publish after it.")
    body["layers"] = [_rewire(layer, replaced) for layer in kept]
    return {**config, "config": body}


def float32_copy(model: keras.Model) -> keras.Model:
    """An uncompiled inference copy of ``model``: float32 compute, no augmentation layers, same weights (float32).

    Plain ``keras.saving.load_model`` loads the copy without fer_keras: :class:`~fer_keras.layers.RandomAffine`
    and Keras' own random augmentation layers (identity at inference) are left out.
    """
    serialized = keras.saving.serialize_keras_object(model)
    serialized.pop("compile_config", None)
    copy = keras.saving.deserialize_keras_object(float32_config(without_training_layers(serialized)))
    for layer in copy.layers:
        weights = [np.asarray(w) for w in model.get_layer(layer.name).get_weights()]
        layer.set_weights([w.astype(np.float32) if np.issubdtype(w.dtype, np.floating) else w for w in weights])
    return copy


def _copy_attrs(source: h5py.HLObject, target: h5py.HLObject) -> None:
    for key, value in source.attrs.items():
        target.attrs[key] = value


def halve_kernels(source: str | os.PathLike, target: str | os.PathLike) -> tuple[int, int]:
    """Copy the HDF5 weights file ``source`` to ``target`` with every float32 array of rank >= 2 as float16.

    Vectors (biases, BatchNorm scales and statistics) and non-float arrays keep their dtype.
    Returns ``(arrays halved, arrays kept)``.
    """
    counts = [0, 0]
    with h5py.File(source, "r") as src, h5py.File(target, "w") as dst:
        _copy_attrs(src, dst)

        def visit(name: str, item: h5py.HLObject) -> None:
            if isinstance(item, h5py.Group):
                _copy_attrs(item, dst.require_group(name))
                return
            data = item[()]
            if isinstance(data, np.ndarray) and data.dtype == np.float32 and data.ndim >= 2:
                data, counts[0] = data.astype(np.float16), counts[0] + 1
            else:
                counts[1] += 1
            _copy_attrs(item, dst.create_dataset(name, data=data))

        src.visititems(visit)
    return counts[0], counts[1]


def save_compact_model(
    model: keras.Model,
    path: str | os.PathLike,
    class_names: Sequence[str],
    *,
    max_bytes: int = MAX_MODEL_BYTES,
) -> CompactModel:
    """Write an inference copy of ``model`` to ``path`` (``.keras``) with float16 kernels, plus its class names.

    The copy computes in float32 and has no optimizer and no augmentation layers (:func:`float32_copy`);
    plain ``keras.saving.load_model`` loads it
    with float32 weights. Raises ``ValueError`` (leaving nothing at ``path``) when the file
    would exceed ``max_bytes``. ``<stem>.classes.json`` is written beside it.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"{path}: a compact model is a .keras file; name it <name>.keras")
    path.parent.mkdir(parents=True, exist_ok=True)
    copy = float32_copy(model)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.stem}.") as tmp:
        full, weights, compact = Path(tmp) / "full.keras", Path(tmp) / WEIGHTS_MEMBER, Path(tmp) / "compact.keras"
        copy.save(full)
        with zipfile.ZipFile(full) as archive, zipfile.ZipFile(compact, "w", zipfile.ZIP_STORED) as out:
            for info in archive.infolist():
                if info.filename == WEIGHTS_MEMBER:
                    with archive.open(info) as member, open(Path(tmp) / "full.weights.h5", "wb") as handle:
                        shutil.copyfileobj(member, handle)
                    halved, kept = halve_kernels(Path(tmp) / "full.weights.h5", weights)
                    out.write(weights, WEIGHTS_MEMBER)
                else:
                    out.writestr(info, archive.read(info))
        size = compact.stat().st_size
        if size > max_bytes:
            raise ValueError(
                f"The compact copy of {model.name} is {size:,} bytes, over the {max_bytes:,}-byte limit "
                f"({copy.count_params():,} parameters). Shrink the model or quantize its dense layers "
                "(keras.Model.quantize('int8')) before saving."
            )
        os.replace(compact, path)
    write_class_names(path, class_names)
    return CompactModel(path, size, halved, kept, int(copy.count_params()))


# ---------------------------------------------------------------- publishing a recorded run


def predict_probabilities(model: keras.Model, feed: Any) -> tuple[np.ndarray, np.ndarray]:
    """(softmax outputs as float32, true class indices) of ``model`` over an unshuffled ``feed``."""
    probabilities, _ = predict_labels(model, feed)
    return probabilities.astype(np.float32), true_labels(feed)


def compare_predictions(reference: keras.Model, compact: keras.Model, feed: Any) -> dict[str, float | int]:
    """How far ``compact``'s outputs are from ``reference``'s on ``feed``: probabilities, top-1 and accuracy."""
    p_ref, y = predict_probabilities(reference, feed)
    p_new, _ = predict_probabilities(compact, feed)
    top_ref, top_new = p_ref.argmax(axis=1), p_new.argmax(axis=1)
    return {
        "images": int(len(y)),
        "max_probability_difference": float(np.max(np.abs(p_ref - p_new))),
        "top1_disagreements": int(np.sum(top_ref != top_new)),
        "reference_accuracy": float(np.mean(top_ref == y)),
        "compact_accuracy": float(np.mean(top_new == y)),
    }


def record_checksums(folder: str | os.PathLike, names: Sequence[str]) -> Path:
    """Set the SHA-256 of the files ``names`` in ``folder``'s ``SHA256SUMS`` (``sha256sum`` format), atomically."""
    folder = Path(folder)
    sums = read_checksums(folder) | {name: file_sha256(folder / name) for name in names}
    text = "".join(f"{digest}  {name}\n" for name, digest in sorted(sums.items()))
    return atomic_write_text(folder / CHECKSUMS, text)


def publish_model(
    base: str | os.PathLike,
    experiment: str,
    test_feed: Any | None = None,
    *,
    models_dir: str = PUBLISHED_MODELS_DIR,
    source: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Publish the recorded run of ``experiment`` under ``base``: compact model, updated metrics JSON and card.

    Reads ``base/metrics/<experiment>.json`` and the model it names, writes
    ``base/<models_dir>/<experiment>.keras`` (+ ``.classes.json``, both hashed into ``SHA256SUMS``) with
    :func:`save_compact_model`, and, with ``test_feed`` (the run's test split), records how the compact
    copy's predictions differ from the trained model's. The result's ``model_path`` then names the compact
    file, so the re-rendered card's snippet loads it; ``published_model`` records its size and the
    comparison, and ``trained_model_path`` the original. Returns ``published_model``.

    ``source`` (a model file, e.g. an earlier published copy) is published instead of the trained model:
    the earlier comparison with the trained model is kept, and the new copy is compared with ``source``
    under ``republished_from``.
    """
    from fer_keras.model_card import write_model_card

    base = Path(base)
    metrics_path = base / "metrics" / f"{experiment}.json"
    if not metrics_path.is_file():
        raise FileNotFoundError(
            f"{metrics_path} does not exist: train {experiment} first (python -m fer_keras train {experiment} "
            "--profile full, or its notebook), then publish from the same output folder."
        )
    result = json.loads(metrics_path.read_text())
    trained_path = result.get("trained_model_path", result["model_path"])
    earlier = result.get("published_model") or {}
    reference = keras.saving.load_model(base / (source or trained_path))
    target = Path(models_dir) / f"{experiment}.keras"
    compact_info = save_compact_model(reference, base / target, result["class_names"])
    record_checksums(base / models_dir, [target.name, classes_path(target).name])
    published: dict[str, Any] = {
        **compact_info.as_dict(),
        "path": target.as_posix(),
        "format": "float32 inference copy: no optimizer, no augmentation layers, float16 kernels, float32 biases "
        "and BatchNorm statistics",
        "sha256": file_sha256(base / target),
        # the layers' policy (a loaded model's is the global one); a republished copy keeps the trained model's
        "trained_dtype_policy": earlier.get("trained_dtype_policy")
        if source
        else describe_dtype_policy(reference)["name"],
    }
    if source is not None:
        for key in ("test_comparison",):
            if key in earlier:
                published[key] = earlier[key]
    if test_feed is not None:
        compact = keras.saving.load_model(base / target)
        comparison = compare_predictions(reference, compact, test_feed)
        if source is None:
            published["test_comparison"] = comparison
        else:
            published["republished_from"] = {"path": Path(source).as_posix(), "test_comparison": comparison}
    result["trained_model_path"] = trained_path
    result["model_path"] = target.as_posix()
    result["published_model"] = published
    atomic_write_json(metrics_path, result)
    write_model_card(result, base / "model_cards" / f"{experiment}.md")
    return published


def card_accuracy(card_path: str | os.PathLike) -> float:
    """The test accuracy a model card states (its ``model-index`` metadata)."""
    from huggingface_hub import ModelCard

    results = ModelCard.load(card_path).data.eval_results or []
    for result in results:
        if result.metric_type == "accuracy":
            return float(result.metric_value)
    raise ValueError(f"{card_path} states no test accuracy in its metadata; re-write it with write_model_card")


PUBLISHABLE_DATASETS: tuple[str, ...] = ("fer2013", "cifar10")
"""Data sets whose experiments have committed models (read from folders, so their test split can be re-read)."""


def test_feed(
    dataset_id: str, classes: Sequence[str], data_dir: str | os.PathLike | None = None, batch_size: int = 256
):
    """The test split of ``dataset_id``'s ``classes`` as training read it: an unshuffled ImageDataGenerator feed."""
    from fer_keras.constants import CIFAR10_IMAGE_SIZE
    from fer_keras.data.fer import flow_frame, list_class_images
    from fer_keras.data.paths import cifar10_split_dir, fer_split_dir, resolve_data_root

    root = resolve_data_root(data_dir)
    if dataset_id == "fer2013":
        split_dir, read = fer_split_dir(root, "test"), {}
    elif dataset_id == "cifar10":
        split_dir, read = cifar10_split_dir(root, "test"), {"image_size": CIFAR10_IMAGE_SIZE, "color_mode": "rgb"}
    else:
        raise ValueError(f"No committed models for {dataset_id!r}; only for {', '.join(PUBLISHABLE_DATASETS)}")
    return flow_frame(list_class_images(split_dir, classes), classes, batch_size=batch_size, **read)


def check_published_model(
    base: str | os.PathLike, experiment: str, data_dir: str | os.PathLike | None = None
) -> dict[str, Any]:
    """Score the committed model of a FER or CIFAR-10 experiment on the test split and compare with its card.

    Loads the model named by ``base/metrics/<experiment>.json`` as the card's snippet does
    (``keras.saving.load_model``), predicts the experiment's test split (read as in training,
    :func:`test_feed`) on this machine, and returns the card's accuracy, this machine's, and their
    difference in percentage points.
    """
    base = Path(base)
    result = json.loads((base / "metrics" / f"{experiment}.json").read_text())
    if result["dataset"]["id"] not in PUBLISHABLE_DATASETS:
        raise ValueError(f"{experiment} is not a FER-2013 or CIFAR-10 experiment; only those have committed models")
    stated = card_accuracy(base / "model_cards" / f"{experiment}.md")
    test = test_feed(result["dataset"]["id"], result["class_names"], data_dir)
    probabilities, labels = predict_probabilities(keras.saving.load_model(base / result["model_path"]), test)
    accuracy = float(np.mean(probabilities.argmax(axis=1) == labels))
    return {
        "experiment": experiment,
        "model_path": result["model_path"],
        "card_accuracy": stated,
        "accuracy": accuracy,
        "difference_points": round((accuracy - stated) * 100, 3),
        "num_test": int(len(labels)),
        "card_num_test": int(result["metrics"]["num_test"]),
    }


__all__ = [
    "MAX_MODEL_BYTES",
    "PUBLISHABLE_DATASETS",
    "PUBLISHED_MODELS_DIR",
    "TRAINING_ONLY_LAYERS",
    "CompactModel",
    "card_accuracy",
    "check_published_model",
    "compare_predictions",
    "float32_config",
    "float32_copy",
    "halve_kernels",
    "predict_probabilities",
    "publish_model",
    "record_checksums",
    "save_compact_model",
    "test_feed",
    "without_training_layers",
]
