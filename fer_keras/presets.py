"""The published models by name: ``"fer7"``, ``"fer4"``, ``"cifar10"``, found in the installed package.

Each preset is a plain entry (keras-hub style): the model file and its class-names sidecar in
``fer_keras/assets/``, the card of the recorded run that trained it, and one line of description.
The SHA-256 of every published file is in ``assets/SHA256SUMS`` (``sha256sum`` format), written by
``tools/accelerator/publish.py`` with the file itself, and checked when a preset is first loaded.
A new published model needs one entry here; ``make results`` (``compact:<name>``) writes its files.

>>> sorted(PRESETS)
['cifar10', 'fer4', 'fer7']
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from fer_keras.errors import DataError

PRESETS: dict[str, dict[str, str]] = {
    "fer7": {
        "file": "fer7.keras",
        "classes": "fer7.classes.json",
        "exported": "fer7.onnx",  # `fer-keras export`: what predict and serve run (ONNX Runtime, no TensorFlow)
        "card": "model_cards/fer7.md",
        "description": "All seven FER-2013 emotions from a 48x48 grayscale face; 7-conv/2-dense CNN, cpu profile.",
    },
    "fer4": {
        "file": "fer4.keras",
        "classes": "fer4.classes.json",
        "card": "model_cards/fer4.md",
        "description": "Happy, sad, neutral, surprise from a 48x48 grayscale face; the original 4-class experiment.",
    },
    "cifar10": {
        "file": "cifar10.keras",
        "classes": "cifar10.classes.json",
        "card": "model_cards/cifar10.md",
        "description": "The ten CIFAR-10 object classes from a 32x32 RGB image; ResNet-9, cpu profile.",
    },
}
"""Name -> ``file`` and ``classes`` (in ``fer_keras/assets/``), ``card`` (in the repository), ``description``;
optionally ``exported``, the model's copy for ONNX Runtime beside it (found by :mod:`fer_keras.predict.runtimes`)."""

DEFAULT_PRESET = "fer7"
"""The model :func:`fer_keras.detect_emotions`, ``predict`` and ``serve`` use when none is named."""

CHECKSUMS = "SHA256SUMS"
"""The file in ``assets/`` holding ``<sha256>  <file>`` for every published file."""

_EXTRACTED = contextlib.ExitStack()  # assets extracted from a zipped install, kept until the process ends
atexit.register(_EXTRACTED.close)


@dataclass(frozen=True)
class Preset:
    """A published model: where its files are and what they must hash to."""

    name: str
    path: Path
    classes_path: Path
    sha256: str | None
    card: str
    description: str


def assets_dir() -> Path:
    """``fer_keras/assets/`` of this installation, as a folder on disk."""
    traversable = resources.files("fer_keras") / "assets"
    if isinstance(traversable, Path):
        return traversable
    return _EXTRACTED.enter_context(resources.as_file(traversable))


def read_checksums(folder: str | os.PathLike | None = None) -> dict[str, str]:
    """``{file name: sha256}`` from ``SHA256SUMS`` in ``folder`` (default :func:`assets_dir`); {} when absent."""
    path = Path(folder or assets_dir()) / CHECKSUMS
    if not path.is_file():
        return {}
    pairs = (line.split(maxsplit=1) for line in path.read_text().splitlines() if line.strip())
    return {name.strip().lstrip("*"): digest for digest, name in pairs}


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def get_preset(name: str) -> Preset:
    """The preset ``name``; :class:`DataError` lists the names when it is unknown."""
    if name not in PRESETS:
        raise DataError(f"Unknown published model {name!r}: choose one of {', '.join(PRESETS)}, or give a .keras path.")
    entry, folder = PRESETS[name], assets_dir()
    return Preset(
        name=name,
        path=folder / entry["file"],
        classes_path=folder / entry["classes"],
        sha256=read_checksums(folder).get(entry["file"]),
        card=entry["card"],
        description=entry["description"],
    )


@cache
def preset_path(name: str = DEFAULT_PRESET) -> Path:
    """The checked model file of preset ``name``: present, with its class names, and hashing as recorded.

    Raises :class:`DataError` naming the file and the fix otherwise (checked once per process).
    """
    preset = get_preset(name)
    for path in (preset.path, preset.classes_path):
        if not path.is_file():
            raise DataError(
                f"The published model {name!r} is not installed: {path} is missing. Reinstall fer_keras "
                f"(pip install .), or in a checkout make it with `make results STEPS=compact:{name}`; "
                "or name a .keras file saved by `train`."
            )
    if preset.sha256 is None:
        raise DataError(f"No checksum for {preset.path.name} in {preset.path.parent / CHECKSUMS}: republish it.")
    actual = file_sha256(preset.path)
    if actual != preset.sha256:
        raise DataError(
            f"{preset.path} is damaged or was replaced: its SHA-256 is {actual}, the published one "
            f"{preset.sha256} ({CHECKSUMS}). Reinstall fer_keras, or republish it with `make results`."
        )
    return preset.path


def model_file(model: str | os.PathLike | None = None) -> Path:
    """The ``.keras`` file meant by ``model``: a preset name (default :data:`DEFAULT_PRESET`) or a path."""
    if model is None or (isinstance(model, str) and model in PRESETS):
        return preset_path(model or DEFAULT_PRESET)
    path = Path(model)
    if isinstance(model, str) and not path.suffix and len(path.parts) == 1 and not path.exists():
        get_preset(model)  # a bare name that is neither a preset nor a file: the error lists the presets
    return path


__all__ = [
    "CHECKSUMS",
    "DEFAULT_PRESET",
    "PRESETS",
    "Preset",
    "assets_dir",
    "file_sha256",
    "get_preset",
    "model_file",
    "preset_path",
    "read_checksums",
]
