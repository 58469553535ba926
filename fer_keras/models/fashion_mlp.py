"""The Fashion-MNIST MLP (Flatten -> Dense -> Dense -> Dense(10)) and its keras-tuner search space."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import keras_tuner
from keras import layers

OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "nadam": keras.optimizers.Nadam,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
}

SEARCH_SPACE: dict[str, Sequence] = {
    "activation": ("relu", "tanh"),
    "units_1": (64, 512, 64),  # min, max, step
    "units_2": (32, 256, 32),
    "learning_rate": (1e-2, 3e-3, 1e-3, 3e-4),
    "optimizer": ("adam", "nadam", "sgd", "rmsprop"),
}
"""What the tuner searches: choices, or (min, max, step) ranges for the layer sizes."""


def make_optimizer(name: str, learning_rate: Any, weight_decay: float | None = None) -> keras.optimizers.Optimizer:
    """An optimizer by name (adam, nadam, sgd, rmsprop); SGD uses Nesterov momentum 0.9.

    ``learning_rate`` is a number or a schedule; ``weight_decay`` is Keras' decoupled decay
    (each step multiplies the weights by ``1 - learning_rate * weight_decay``).
    """
    key = name.lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    decay = {"weight_decay": weight_decay} if weight_decay else {}
    if key == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True, **decay)
    return OPTIMIZERS[key](learning_rate, **decay)


def build_fashion_mlp(
    units_1: int = 256,
    units_2: int = 128,
    activation: str = "relu",
    learning_rate: float = 1e-3,
    optimizer: str = "adam",
    *,
    num_classes: int = 10,
    input_shape: tuple[int, ...] = (28, 28, 1),
    dropout: float = 0.0,
    name: str = "fashion_mlp",
) -> keras.Model:
    """Build and compile the MLP: Flatten -> Dense(units_1) -> Dense(units_2) -> Dense(num_classes, softmax).

    Compiled with sparse categorical cross-entropy (integer labels) and accuracy.
    """
    model = keras.Sequential(name=name)
    model.add(keras.Input(shape=input_shape, name="image"))
    model.add(layers.Flatten(name="flatten"))
    for index, units in enumerate((units_1, units_2), start=1):
        model.add(layers.Dense(units, activation=activation, name=f"dense{index}"))
        if dropout:
            model.add(layers.Dropout(dropout, name=f"dense{index}_dropout"))
    model.add(layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions"))
    model.compile(
        optimizer=make_optimizer(optimizer, learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    return model


class FashionMLPHyperModel(keras_tuner.HyperModel):
    """keras-tuner search over activation, both layer sizes, learning rate and optimizer."""

    def __init__(self, search_space: dict[str, Sequence] | None = None, dropout: float = 0.0) -> None:
        super().__init__(name="fashion_mlp")
        self.space = dict(SEARCH_SPACE, **(search_space or {}))
        self.dropout = dropout

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        """Build one compiled MLP from the tuner's hyperparameters."""
        lo1, hi1, step1 = self.space["units_1"]
        lo2, hi2, step2 = self.space["units_2"]
        return build_fashion_mlp(
            units_1=hp.Int("units_1", lo1, hi1, step=step1),
            units_2=hp.Int("units_2", lo2, hi2, step=step2),
            activation=hp.Choice("activation", list(self.space["activation"])),
            learning_rate=hp.Choice("learning_rate", list(self.space["learning_rate"])),
            optimizer=hp.Choice("optimizer", list(self.space["optimizer"])),
            dropout=self.dropout,
        )


def make_tuner(
    directory: str | Path,
    *,
    max_trials: int = 20,
    seed: int = 1337,
    overwrite: bool = True,
    search_space: dict[str, Sequence] | None = None,
) -> keras_tuner.RandomSearch:
    """A seeded ``RandomSearch`` over :class:`FashionMLPHyperModel`, objective ``val_accuracy``."""
    return keras_tuner.RandomSearch(
        FashionMLPHyperModel(search_space),
        objective="val_accuracy",
        max_trials=max_trials,
        seed=seed,
        overwrite=overwrite,
        directory=str(directory),
        project_name="fashion_mlp",
    )


def tuning_summary(tuner: keras_tuner.Tuner) -> dict:
    """Trials (hyperparameters, best val_accuracy) sorted best first, and the best hyperparameters."""
    trials = []
    for trial in tuner.oracle.trials.values():
        score = trial.score
        trials.append(
            {
                "trial_id": trial.trial_id,
                "hyperparameters": dict(trial.hyperparameters.values),
                "val_accuracy": None if score is None else float(score),
                "status": str(trial.status),
            }
        )
    trials.sort(key=lambda t: -1.0 if t["val_accuracy"] is None else t["val_accuracy"], reverse=True)
    best = tuner.get_best_hyperparameters(1)
    return {
        "objective": "val_accuracy",
        "max_trials": tuner.oracle.max_trials,
        "search_space": {k: list(v) for k, v in SEARCH_SPACE.items()},
        "trials": trials,
        "best_hyperparameters": dict(best[0].values) if best else {},
    }
