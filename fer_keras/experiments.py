"""Run an experiment end to end and record it: metrics JSON, figures and model card from one run.

The notebooks call the same steps one by one (``prepare_data``, ``build_model``,
``fit_model``, ``evaluate_model``, ``record_run``); :func:`run_experiment` chains them
for the command line.
"""

from __future__ import annotations

import math
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from fer_keras import evaluation, plots, training
from fer_keras.data.augment import augmentation_layer
from fer_keras.data.fashion import FashionData, load_fashion
from fer_keras.data.fer import FerData, load_fer, load_sample_images
from fer_keras.distribute import configure_distribution, current_distribution
from fer_keras.io import atomic_write_json
from fer_keras.model_card import write_model_card
from fer_keras.models import build_fashion_cnn, build_fashion_mlp, build_fer_cnn, make_tuner, tuning_summary
from fer_keras.profiles import EXPERIMENTS, Settings, get_settings
from fer_keras.runinfo import collect_run_info, has_accelerator


@dataclass(frozen=True)
class OutputPaths:
    """Where a run writes under ``base``: ``model_cards/``, ``figures/``, ``metrics/`` and ``artifacts/<exp>/``."""

    base: Path
    experiment: str

    @property
    def card(self) -> Path:
        return self.base / "model_cards" / f"{self.experiment}.md"

    @property
    def metrics(self) -> Path:
        return self.base / "metrics" / f"{self.experiment}.json"

    @property
    def artifacts(self) -> Path:
        return self.base / "artifacts" / self.experiment

    @property
    def model(self) -> Path:
        return self.artifacts / "model.keras"

    def figure(self, kind: str) -> Path:
        return self.base / "figures" / f"{self.experiment}_{kind}.png"


def default_out_dir(profile: str, root: str | os.PathLike = ".") -> Path:
    """``root`` for the full profile (the committed cards and figures), ``root/runs/<profile>`` otherwise."""
    return Path(root) if profile == "full" else Path(root) / "runs" / profile


def cache_dir() -> Path:
    """Where the fast path caches decoded images: ``$FER_KERAS_CACHE``, else ``~/.cache/fer_keras``."""
    return Path(os.environ.get("FER_KERAS_CACHE", "~/.cache/fer_keras")).expanduser()


def resolve_pipeline(settings: Settings) -> str:
    """``fast`` on accelerators and ``imagegenerator`` on CPU when the profile says ``auto``."""
    if settings.pipeline != "auto":
        return settings.pipeline
    return "fast" if has_accelerator() else "imagegenerator"


def prepare_data(settings: Settings, data_dir: str | os.PathLike | None = None) -> FerData | FashionData:
    """Load and check the experiment's data (raises ``DataError`` before any training)."""
    experiment = EXPERIMENTS[settings.experiment]
    if experiment.dataset_id == "fashion_mnist":
        return load_fashion(
            data_dir, validation_split=settings.validation_split, seed=settings.seed, smoke=settings.smoke
        )
    return load_fer(
        experiment.class_names,
        data_dir,
        batch_size=settings.batch_size,
        validation_split=settings.validation_split,
        seed=settings.seed,
        augmentation=settings.augmentation,
        smoke=settings.smoke,
        pipeline=resolve_pipeline(settings),
        workers=settings.workers,
        cache_dir=cache_dir(),
        augment_on="model",  # fastest measured on CPU (benchmarks/README.md); on accelerators it stays on device
    )


def build_model(settings: Settings, data: FerData | FashionData, hyperparameters: dict | None = None) -> keras.Model:
    """The experiment's model, compiled with the profile's optimizer, schedule and loss."""
    if settings.mixed_precision and has_accelerator():
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    name, classes = EXPERIMENTS[settings.experiment].model, data.class_names
    if name == "fashion_mlp":
        return build_fashion_mlp(**(hyperparameters or {}))
    if name == "fer_cnn":
        augmentation = None
        if isinstance(data, FerData) and data.augment_on == "model" and data.augmentation:
            augmentation = augmentation_layer(data.augmentation, settings.seed)
        model = build_fer_cnn(len(classes), augmentation=augmentation)
    else:
        model = build_fashion_cnn(len(classes))
    train_batches = steps_per_epoch(settings, data)
    return training.compile_classifier(
        model,
        optimizer=settings.optimizer,
        learning_rate=settings.learning_rate,
        decay_steps=settings.epochs * train_batches if settings.schedule == "cosine" else None,
        label_smoothing=settings.label_smoothing,
        sparse_labels=isinstance(data, FashionData),
    )


def steps_per_epoch(settings: Settings, data: FerData | FashionData) -> int:
    """Training batches per epoch, without building an iterator (Fashion-MNIST feeds copy the arrays)."""
    if isinstance(data, FashionData):
        return math.ceil(len(data.arrays["train"][1]) / settings.batch_size)
    return len(data.train)


def train_feed(settings: Settings, data: FerData | FashionData):
    """The training iterator of ``data`` (Fashion-MNIST iterators are made here, with the profile's batch size)."""
    if isinstance(data, FashionData):
        return data.flow(
            "train", batch_size=settings.batch_size, augmentation=settings.augmentation, seed=settings.seed
        )
    return data.train


def eval_feeds(settings: Settings, data: FerData | FashionData) -> tuple[Any, Any]:
    """(validation, test) iterators, unshuffled."""
    if isinstance(data, FashionData):
        return (
            data.flow("validation", batch_size=settings.batch_size),
            data.flow("test", batch_size=settings.batch_size),
        )
    return data.validation, data.test


def class_weights(settings: Settings, data: FerData | FashionData) -> dict[int, float] | None:
    """Balanced class weights from the training counts when the profile asks for them."""
    if not settings.class_weight:
        return None
    power = 0.5 if settings.class_weight == "sqrt" else 1.0
    return training.balanced_class_weight(data.counts["train"], data.class_names, power=power)


def tune_mlp(settings: Settings, data: FashionData, out: OutputPaths, verbose: str | int = "auto") -> dict:
    """Run the keras-tuner search for the Fashion-MNIST MLP; return :func:`tuning_summary`."""
    tuner = make_tuner(out.artifacts / "tuner", max_trials=settings.max_trials, seed=settings.seed)
    tuner.search(
        *data.scaled("train"),
        validation_data=data.scaled("validation"),
        epochs=settings.tuner_epochs,
        batch_size=settings.batch_size,
        callbacks=[keras.callbacks.EarlyStopping("val_accuracy", patience=3)],
        verbose=verbose,
    )
    return tuning_summary(tuner)


def fit_model(
    model: keras.Model, settings: Settings, data: FerData | FashionData, out: OutputPaths, verbose: str | int = "auto"
) -> training.TrainResult:
    """Train with the profile's epochs, callbacks and class weights; history and checkpoints go to artifacts."""
    callbacks = training.make_callbacks(
        out.artifacts, patience=settings.patience, reduce_lr=settings.schedule == "plateau"
    )
    validation, _ = eval_feeds(settings, data)
    return training.train(
        model,
        train_feed(settings, data),
        validation,
        epochs=settings.epochs,
        artifacts_dir=out.artifacts,
        class_weight=class_weights(settings, data),
        callbacks=callbacks,
        verbose=verbose,
    )


def evaluate(model: keras.Model, settings: Settings, data: FerData | FashionData) -> dict:
    """Test-split metrics (see :func:`fer_keras.evaluation.classification_summary`)."""
    _, test = eval_feeds(settings, data)
    return evaluation.evaluate_model(model, test, data.class_names)


def model_description(model: keras.Model) -> dict:
    """Parameter counts and a per-layer table of ``model`` for the card."""
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    non_trainable = int(sum(np.prod(w.shape) for w in model.non_trainable_weights))
    return {
        "name": model.name,
        "input_shape": list(model.input_shape[1:]),
        "params": {"total": trainable + non_trainable, "trainable": trainable, "non_trainable": non_trainable},
        "layers": [
            {
                "name": layer.name,
                "type": type(layer).__name__,
                "output_shape": str(layer.output.shape),
                "params": int(layer.count_params()),
            }
            for layer in model.layers
        ],
    }


def sample_images(data: FerData | FashionData, per_class: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A few training images per class (uint8) and their labels, for the sample grid."""
    if isinstance(data, FashionData):
        x, y = data.arrays["train"]
        rng = np.random.default_rng(seed)
        index = np.concatenate(
            [rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in range(len(data.class_names))]
        )
        return x[index], y[index]
    return load_sample_images(data.frames["train"], data.class_names, per_class, seed)


def save_figures(result: dict, data: FerData | FashionData, out: OutputPaths) -> dict[str, str]:
    """Confusion matrix, curves, sample grid and class balance as PNGs; returns paths relative to ``out.base``."""
    names = result["class_names"]
    figures = {
        "confusion_matrix": plots.plot_confusion_matrix(
            result["metrics"]["confusion_matrix"], names, title=f"{result['title']}: test confusion matrix"
        ),
        "curves": plots.plot_history(result["history"], title=result["title"]),
        "samples": plots.plot_sample_grid(*sample_images(data), names),
        "class_balance": plots.plot_class_balance(data.counts),
    }
    return {
        kind: plots.save_figure(fig, out.figure(kind)).relative_to(out.base).as_posix() for kind, fig in figures.items()
    }


def record_run(
    settings: Settings,
    data: FerData | FashionData,
    model: keras.Model,
    train_result: training.TrainResult,
    metrics: dict,
    out: OutputPaths,
    *,
    wall_time_s: float,
    data_dir: str | os.PathLike | None = None,
    tuning: dict | None = None,
    command: str | None = None,
) -> dict:
    """Assemble the run's result, write figures, ``metrics/<exp>.json`` and ``model_cards/<exp>.md``; return it."""
    experiment = EXPERIMENTS[settings.experiment]
    is_fer = isinstance(data, FerData)
    result: dict[str, Any] = {
        "experiment": experiment.name,
        "title": experiment.title,
        "profile": settings.profile,
        "dataset": {
            "id": experiment.dataset_id,
            "name": experiment.dataset_name,
            "root": str(data_dir) if data_dir else os.environ.get("FER_KERAS_DATA", "data"),
            "counts": data.counts,
            "preprocessing": (
                "grayscale, resized to 48x48 (bilinear), pixels rescaled to [0, 1]"
                if is_fer
                else "28x28 grayscale, pixels rescaled to [0, 1]"
            ),
            "note": (
                "test/ is the FER-2013 PublicTest part; validation is a seeded stratified "
                f"{settings.validation_split:.0%} of train."
                if is_fer
                else f"Official 10,000-image test set; validation is a seeded stratified "
                f"{settings.validation_split:.0%} of train."
            ),
        },
        "class_names": list(data.class_names),
        "model": {
            **model_description(model),
            "builder": f"fer_keras.models.build_{experiment.model}",
            "output": f"softmax over {len(data.class_names)} classes",
        },
        "training": {
            **{k: v for k, v in settings.as_dict().items() if k not in {"experiment", "profile", "extra"}},
            "loss": "sparse_categorical_crossentropy" if not is_fer else "categorical_crossentropy",
            "epochs_run": train_result.epochs_run,
            "best_epoch": train_result.best_epoch,
            "callbacks": train_result.callbacks,
            "pipeline": data.pipeline if is_fer else "imagegenerator",
            "class_weight": (
                {data.class_names[i]: round(w, 3) for i, w in class_weights(settings, data).items()}
                if settings.class_weight
                else None
            ),
        },
        "history": train_result.history,
        "metrics": metrics,
        "run": {
            **collect_run_info(),
            "wall_time_s": round(wall_time_s, 1),
            "train_time_s": train_result.train_time_s,
            "images_per_s": train_result.images_per_s,
            "command": command or " ".join(shlex.quote(a) for a in sys.argv),
        },
        "limitations": experiment.limitations,
        "tradeoffs": experiment.tradeoffs,
    }
    if tuning:
        result["tuning"] = tuning
    result["distribution"] = current_distribution()
    result["figures"] = save_figures(result, data, out)
    result["model_path"] = out.model.relative_to(out.base).as_posix()
    result["card_path"], result["metrics_path"] = str(out.card), str(out.metrics)
    atomic_write_json(out.metrics, result)
    write_model_card(result, out.card)
    return result


def run_experiment(
    experiment: str,
    profile: str = "smoke",
    *,
    data_dir: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    verbose: str | int = "auto",
    command: str | None = None,
    **overrides: Any,
) -> dict:
    """Train, evaluate and record ``experiment`` in ``profile``; returns the result dict written to JSON."""
    start = time.perf_counter()
    settings = get_settings(experiment, profile, **overrides)
    if settings.distribute:
        configure_distribution(True)
    out = OutputPaths(Path(out_dir) if out_dir else default_out_dir(profile), experiment)
    training.set_seed(settings.seed)
    data = prepare_data(settings, data_dir)
    tuning = None
    if experiment == "fashion_mlp":
        tuning = tune_mlp(settings, data, out, verbose=verbose)
        training.set_seed(settings.seed)
    model = build_model(settings, data, tuning["best_hyperparameters"] if tuning else None)
    train_result = fit_model(model, settings, data, out, verbose=verbose)
    metrics = evaluate(model, settings, data)
    training.save_model(model, out.model, data.class_names)
    return record_run(
        settings,
        data,
        model,
        train_result,
        metrics,
        out,
        wall_time_s=time.perf_counter() - start,
        data_dir=data_dir,
        tuning=tuning,
        command=command,
    )
