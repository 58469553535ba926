"""Run an experiment end to end and record it: metrics JSON, figures and model card from one run.

The steps are small public functions that the notebooks call one by one, next to the
Keras calls they make (the loader, ``build_*``, ``compile``, ``fit``, the evaluation);
:func:`run_experiment` chains the same functions for the command line, so notebook and
CLI give the same numbers for the same settings. Every data set has the same interface
(``train``/``validation``/``test`` feeds, ``class_names``, ``counts``, ``sparse_labels``,
``fingerprint()``, ``sample_images()``), so nothing here branches on the data set.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from fer_keras import evaluation, plots, training
from fer_keras.analysis import analyze_model, collect_arrays
from fer_keras.data.augment import augmentation_layer
from fer_keras.data.cifar import CifarData, load_cifar10
from fer_keras.data.fashion import FashionData, load_fashion
from fer_keras.data.fer import FerData, load_fer
from fer_keras.describe import describe_architecture, describe_augmentation, describe_compiled
from fer_keras.determinism import determinism_state
from fer_keras.distribute import configure_distribution, current_distribution
from fer_keras.io import atomic_write_json
from fer_keras.model_card import write_model_card
from fer_keras.models import (
    build_cifar_resnet,
    build_fashion_cnn,
    build_fashion_mlp,
    build_fer_cnn,
    make_optimizer,
    make_tuner,
    tuning_summary,
)
from fer_keras.precision import mixed_precision_policy
from fer_keras.profiles import EXPERIMENTS, PUBLISHED_PROFILES, Settings, get_settings
from fer_keras.runinfo import collect_run_info, compute_used, has_accelerator

ExperimentData = FerData | FashionData | CifarData
"""The data of any experiment: both classes share the interface described in the module docstring."""


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
    """Where a run of ``profile`` writes: ``root`` for ``cpu`` (the published cards, figures and metrics),
    ``root/full`` for the accelerator profile (committed beside them), ``root/runs/<profile>`` otherwise."""
    if profile in PUBLISHED_PROFILES:
        return Path(root) if profile == "cpu" else Path(root) / profile
    return Path(root) / "runs" / profile


def cache_dir() -> Path:
    """Where the fast path caches decoded images: ``$FER_KERAS_CACHE``, else ``~/.cache/fer_keras``."""
    return Path(os.environ.get("FER_KERAS_CACHE", "~/.cache/fer_keras")).expanduser()


def resolve_pipeline(settings: Settings) -> str:
    """``fast`` on accelerators and ``imagegenerator`` on CPU when the profile says ``auto``."""
    if settings.pipeline != "auto":
        return settings.pipeline
    return "fast" if has_accelerator() else "imagegenerator"


def dtype_policy_for(settings: Settings) -> str:
    """``mixed_bfloat16`` when the profile asks for mixed precision and the hardware executes bf16 natively
    (an accelerator, or a CPU with ``avx512_bf16``/``amx_bf16`` under TensorFlow), else float32."""
    return mixed_precision_policy(settings.mixed_precision)


# ---------------------------------------------------------------- data


def prepare_data(settings: Settings, data_dir: str | os.PathLike | None = None) -> ExperimentData:
    """Load and check the experiment's data with the profile's batch size, split, seed and augmentation.

    Raises ``DataError`` before any training.
    """
    experiment = EXPERIMENTS[settings.experiment]
    common = {
        "batch_size": settings.batch_size,
        "validation_split": settings.validation_split,
        "seed": settings.seed,
        "augmentation": settings.augmentation,
        "smoke": settings.smoke,
    }
    if experiment.dataset_id == "fashion_mnist":
        return load_fashion(data_dir, **common)
    if experiment.dataset_id == "cifar10":
        return load_cifar10(
            data_dir,
            **common,
            classes=experiment.class_names,
            pipeline=resolve_pipeline(settings),
            workers=settings.workers,
            cache_dir=cache_dir(),
            train_fraction=settings.train_fraction,
        )
    return load_fer(
        experiment.class_names,
        data_dir,
        **common,
        pipeline=resolve_pipeline(settings),
        workers=settings.workers,
        cache_dir=cache_dir(),
        augment_on="model",  # fastest measured on CPU (benchmarks/README.md); on accelerators it stays on device
        train_fraction=settings.train_fraction,
    )


# ---------------------------------------------------------------- model


def augmentation_for(settings: Settings, data: ExperimentData) -> keras.layers.Layer | None:
    """The in-model augmentation layer when the feed leaves augmentation to the model, else None."""
    if data.augment_on == "model" and data.augmentation:
        return augmentation_layer(data.augmentation, settings.seed)
    return None


def decay_steps_for(settings: Settings, data: ExperimentData) -> int | None:
    """Optimizer steps of the whole run for a cosine schedule, None for a constant rate."""
    return settings.epochs * len(data.train) if settings.schedule == "cosine" else None


def warmup_steps_for(settings: Settings, data: ExperimentData) -> int:
    """Optimizer steps of the cosine schedule's linear warm-up (0: none)."""
    return round(settings.warmup_epochs * len(data.train)) if settings.schedule == "cosine" else 0


def schedule_for(settings: Settings, data: ExperimentData) -> Any:
    """The profile's learning rate: a number, or a cosine schedule over the run (with its warm-up)."""
    return training.learning_rate_schedule(
        settings.learning_rate, decay_steps_for(settings, data), warmup_steps_for(settings, data)
    )


def compile_model(model: keras.Model, settings: Settings, data: ExperimentData) -> keras.Model:
    """``model.compile`` with the profile's optimizer, learning-rate schedule, loss and metrics."""
    model.compile(
        optimizer=make_optimizer(settings.optimizer, schedule_for(settings, data), settings.weight_decay),
        loss=training.make_loss(sparse_labels=data.sparse_labels, label_smoothing=settings.label_smoothing),
        metrics=training.make_metrics(len(data.class_names), sparse_labels=data.sparse_labels),
    )
    return model


def build_model(settings: Settings, data: ExperimentData, hyperparameters: dict | None = None) -> keras.Model:
    """The experiment's model, built under the run's dtype policy (restored afterwards) and compiled.

    ``fashion_mlp`` is compiled by its builder with the tuned ``hyperparameters`` (optimizer
    and learning rate included); the others by :func:`compile_model`.
    """
    name, classes = EXPERIMENTS[settings.experiment].model, data.class_names
    with training.dtype_policy(dtype_policy_for(settings)):
        if name == "fashion_mlp":
            return build_fashion_mlp(**(hyperparameters or {}), num_classes=len(classes))
        if name == "fer_cnn":
            model = build_fer_cnn(
                len(classes),
                augmentation=augmentation_for(settings, data),
                conv_dropout=settings.conv_dropout,
                dense_dropout=settings.dense_dropout,
            )
        elif name == "cifar_resnet":
            model = build_cifar_resnet(len(classes), width=settings.width)
        else:
            model = build_fashion_cnn(len(classes))
    return compile_model(model, settings, data)


# ---------------------------------------------------------------- training


def class_weights(settings: Settings, data: ExperimentData) -> dict[int, float] | None:
    """Balanced class weights from the training counts when the profile asks for them."""
    if not settings.class_weight:
        return None
    power = 0.5 if settings.class_weight == "sqrt" else 1.0
    return training.balanced_class_weight(data.counts["train"], data.class_names, power=power)


def make_callbacks(
    settings: Settings, out: OutputPaths, class_names: tuple[str, ...] | None = None
) -> list[keras.callbacks.Callback]:
    """The profile's callbacks (see :func:`fer_keras.training.make_callbacks`), watching ``settings.monitor``.

    With ``class_names`` the best-model checkpoint gets its class-names file too.
    """
    return training.make_callbacks(
        out.artifacts,
        patience=settings.patience,
        reduce_lr=settings.schedule == "plateau",
        monitor=settings.monitor,
        class_names=class_names,
    )


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
    model: keras.Model, settings: Settings, data: ExperimentData, out: OutputPaths, verbose: str | int = "auto"
) -> training.TrainResult:
    """Train with the profile's epochs, callbacks and class weights; history and checkpoints go to artifacts."""
    return training.train(
        model,
        data.train,
        data.validation,
        epochs=settings.epochs,
        artifacts_dir=out.artifacts,
        class_weight=class_weights(settings, data),
        callbacks=make_callbacks(settings, out, data.class_names),
        verbose=verbose,
    )


def evaluate(model: keras.Model, settings: Settings, data: ExperimentData) -> dict:
    """Test-split metrics with 95 % bootstrap intervals and horizontal-flip test-time averaging beside them
    (see :func:`fer_keras.evaluation.evaluate_model`)."""
    return evaluation.evaluate_model(model, data.test, data.class_names, seed=settings.seed, flip_tta=True)


def analyze(
    model: keras.Model,
    settings: Settings,
    data: ExperimentData,
    out: OutputPaths,
    *,
    kinds: tuple[str, ...] | None = None,
    on_figure: Any = None,
) -> dict:
    """Calibration (temperature fitted on validation only), confident mistakes, occlusion maps and the
    feature embedding of ``model`` on the test split; figures go to ``out.base/figures/<exp>_<kind>.png``.

    Returns :func:`fer_keras.analysis.analyze_model`'s numbers with figure paths relative to ``out.base``.
    """
    x_test, y_test = collect_arrays(data.test)
    x_val, y_val = collect_arrays(data.validation)
    extra = {"kinds": kinds} if kinds else {}
    report = analyze_model(
        model,
        x_test,
        y_test,
        data.class_names,
        x_val=x_val,
        y_val=y_val,
        out_dir=out.base / "figures",
        prefix=settings.experiment,
        embedding_samples=settings.analysis_samples,
        seed=settings.seed,
        on_figure=on_figure,
        **extra,
    )
    report["figures"] = {k: Path(p).relative_to(out.base).as_posix() for k, p in report["figures"].items()}
    return report


# ---------------------------------------------------------------- recording


def save_figures(result: dict, data: ExperimentData, out: OutputPaths) -> dict[str, str]:
    """Confusion matrix, curves, sample grid and class balance as PNGs; returns paths relative to ``out.base``."""
    names = result["class_names"]
    figures = {
        "confusion_matrix": plots.plot_confusion_matrix(
            result["metrics"]["confusion_matrix"], names, title=f"{result['title']}: test confusion matrix"
        ),
        "curves": plots.plot_history(
            result["history"], title=result["title"], best_epoch=result["training"]["best_epoch"]
        ),
        "samples": plots.plot_sample_grid(*data.sample_images(), names),
        "class_balance": plots.plot_class_balance(data.counts),
    }
    return {
        kind: plots.save_figure(fig, out.figure(kind)).relative_to(out.base).as_posix() for kind, fig in figures.items()
    }


def describe_training(
    model: keras.Model, settings: Settings, data: ExperimentData, train_result: training.TrainResult
) -> dict[str, Any]:
    """Training details read from the objects that trained: compiled model, feeds, callbacks, ``fit``."""
    compiled = describe_compiled(model)
    weights = train_result.class_weight
    return {
        **compiled,
        "optimizer_at_start": train_result.optimizer_at_start,
        "batch_size": int(data.train.batch_size),
        "epochs": train_result.epochs_planned,
        "epochs_run": train_result.epochs_run,
        "monitor": train_result.monitor,
        "monitor_mode": train_result.monitor_mode,
        "best_epoch": train_result.best_epoch,
        "best_value": train_result.best_value,
        "callbacks": train_result.callbacks,
        "pipeline": data.pipeline,
        "feed": type(data.train).__name__,
        "augmentation": describe_augmentation(model, data.train),
        "class_weight": {data.class_names[i]: round(w, 4) for i, w in weights.items()} if weights else None,
        "seed": settings.seed,
        "deterministic": determinism_state(),
        "validation_split": settings.validation_split,
    }


def command_line(argv: list[str] | None = None) -> str:
    """This process's command as a user would type it (``python -m fer_keras ...`` for the CLI)."""
    argv = list(sys.argv if argv is None else argv)
    if argv and Path(argv[0]).name == "__main__.py" and Path(argv[0]).parent.name == "fer_keras":
        argv = ["python", "-m", "fer_keras", *argv[1:]]
    return " ".join(shlex.quote(a) for a in argv)


def record_run(
    settings: Settings,
    data: ExperimentData,
    model: keras.Model,
    train_result: training.TrainResult,
    metrics: dict,
    out: OutputPaths,
    *,
    wall_time_s: float,
    data_dir: str | os.PathLike | None = None,
    tuning: dict | None = None,
    analysis: dict | None = None,
    command: str | None = None,
) -> dict:
    """Assemble the run's result, write figures, ``metrics/<exp>.json`` and ``model_cards/<exp>.md``; return it.

    ``data_dir`` is recorded as given (relative paths stay relative); ``analysis`` is :func:`analyze`'s result.
    """
    experiment = EXPERIMENTS[settings.experiment]
    validation_split = f"a seeded stratified {settings.validation_split:.0%} of train"
    result: dict[str, Any] = {
        "experiment": experiment.name,
        "title": experiment.title,
        "profile": settings.profile,
        "dataset": {
            "id": experiment.dataset_id,
            "name": experiment.dataset_name,
            "root": str(data_dir) if data_dir else os.environ.get("FER_KERAS_DATA", "data"),
            "counts": data.counts,
            "preprocessing": data.preprocessing,
            "note": f"{experiment.test_note}; validation is {validation_split}.",
            "fingerprint": data.fingerprint(),
        },
        "class_names": list(data.class_names),
        "model": {
            **describe_architecture(model),
            "builder": f"fer_keras.models.build_{experiment.model}",
            "output": f"softmax over {len(data.class_names)} classes",
        },
        "training": describe_training(model, settings, data, train_result),
        "history": train_result.history,
        "metrics": metrics,
        "readout": {
            "overfitting": evaluation.overfitting_readout(
                train_result.history, train_result.best_epoch, train_result.monitor, len(data.class_names)
            ),
            "confusions": evaluation.confusion_readout(metrics["confusion_matrix"], data.class_names),
        },
        "reference": experiment.reference_summary(),
        "run": {
            **collect_run_info(),
            "wall_time_s": round(wall_time_s, 1),
            "train_time_s": train_result.train_time_s,
            "images_per_s": train_result.images_per_s,
            "epochs_timed": train_result.epochs_timed,
            "compute": compute_used(wall_time_s),
            "command": command or command_line(),
        },
        "limitations": experiment.limitations,
        "tradeoffs": experiment.tradeoffs,
    }
    if experiment.uses:
        result["uses"] = experiment.uses
    if experiment.comparison:
        result["comparison"] = experiment.comparison
    if tuning:
        result["tuning"] = tuning
    result["analysis"] = analysis
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
    training.set_seed(settings.seed, deterministic=settings.deterministic)
    data = prepare_data(settings, data_dir)
    tuning = None
    if experiment == "fashion_mlp":
        tuning = tune_mlp(settings, data, out, verbose=verbose)
    return train_and_record(
        settings, data, out, start=start, data_dir=data_dir, tuning=tuning, verbose=verbose, command=command
    )


def train_and_record(
    settings: Settings,
    data: ExperimentData,
    out: OutputPaths,
    *,
    start: float,
    data_dir: str | os.PathLike | None = None,
    tuning: dict | None = None,
    verbose: str | int = "auto",
    command: str | None = None,
) -> dict:
    """Build (with the best tuned hyperparameters, if any), train, evaluate, save, analyse and record.

    ``start`` is the run's ``time.perf_counter()`` start, for the card's wall time. The seed is set right
    before the model is built, as the notebooks do, so both start from the same weights.
    """
    training.set_seed(settings.seed, deterministic=settings.deterministic)
    model = build_model(settings, data, tuning["best_hyperparameters"] if tuning else None)
    train_result = fit_model(model, settings, data, out, verbose=verbose)
    metrics = evaluate(model, settings, data)
    training.save_model(model, out.model, data.class_names)
    analysis = analyze(model, settings, data, out) if settings.analysis else None
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
        analysis=analysis,
        command=command,
    )


__all__ = [
    "ExperimentData",
    "OutputPaths",
    "analyze",
    "augmentation_for",
    "build_model",
    "cache_dir",
    "class_weights",
    "compile_model",
    "decay_steps_for",
    "default_out_dir",
    "describe_training",
    "dtype_policy_for",
    "evaluate",
    "fit_model",
    "make_callbacks",
    "prepare_data",
    "record_run",
    "resolve_pipeline",
    "run_experiment",
    "save_figures",
    "schedule_for",
    "train_and_record",
    "tune_mlp",
    "warmup_steps_for",
]
