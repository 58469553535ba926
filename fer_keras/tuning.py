"""Distributed search of the Fashion-MNIST MLP with keras-tuner's own chief/worker mode.

keras-tuner runs a distributed search when every process has ``KERASTUNER_TUNER_ID`` (``chief``
or ``tuner0``, ``tuner1``, ...), ``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT`` set: the
chief serves the oracle over gRPC and blocks in ``search()``; each worker asks it for a trial,
trains it and reports back, until the oracle answers that the trial budget is spent. The chief's
``search()`` returns once every worker that asked for a trial has been told so and no trial is
running. The chief then retrains the best configuration and records it like ``train fashion_mlp``.
"""

from __future__ import annotations

import collections
import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import keras_tuner

from fer_keras import training
from fer_keras.experiments import OutputPaths, default_out_dir, prepare_data, train_and_record
from fer_keras.models.fashion_mlp import FashionMLPHyperModel, tuning_summary
from fer_keras.profiles import Settings, get_settings

EXPERIMENT = "fashion_mlp"
CHIEF_ID = "chief"


class TrackedRandomSearchOracle(keras_tuner.oracles.RandomSearchOracle):
    """keras-tuner's random search oracle, remembering which tuner (worker) was handed each trial."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tuner_of_trial: dict[str, str] = {}

    @keras_tuner.synchronized
    def create_trial(self, tuner_id: str) -> keras_tuner.engine.trial.Trial:
        trial = super().create_trial(tuner_id)
        if trial.status == keras_tuner.engine.trial.TrialStatus.RUNNING:
            self.tuner_of_trial[trial.trial_id] = tuner_id
        return trial

    def get_state(self) -> dict:
        return {**super().get_state(), "tuner_of_trial": self.tuner_of_trial}

    def set_state(self, state: dict) -> None:
        super().set_state(state)
        self.tuner_of_trial = dict(state.get("tuner_of_trial", {}))


def make_search_tuner(directory: str | Path, *, max_trials: int, seed: int) -> keras_tuner.Tuner:
    """The MLP search (same space and objective as :func:`fer_keras.models.make_tuner`) on a tracking oracle."""
    oracle = TrackedRandomSearchOracle(
        objective=keras_tuner.Objective("val_accuracy", "max"), max_trials=max_trials, seed=seed
    )
    return keras_tuner.Tuner(
        oracle=oracle,
        hypermodel=FashionMLPHyperModel(),
        directory=str(directory),
        project_name=EXPERIMENT,
        overwrite=True,
    )


def parse_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port); raises ``ValueError`` naming the expected form."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"Oracle address {address!r} is not HOST:PORT (e.g. 10.0.0.1:8000 or 0.0.0.0:8000).")
    return host, int(port)


def worker_id(index: int) -> str:
    """keras-tuner's id of worker ``index``: ``tuner0``, ``tuner1``, ..."""
    return f"tuner{index}"


@contextlib.contextmanager
def tuner_environment(tuner_id: str, host: str, port: int) -> Iterator[None]:
    """Set keras-tuner's ``KERASTUNER_*`` variables for this process while the block runs."""
    values = {"KERASTUNER_TUNER_ID": tuner_id, "KERASTUNER_ORACLE_IP": host, "KERASTUNER_ORACLE_PORT": str(port)}
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def search_kwargs(settings: Settings) -> dict[str, Any]:
    """What each trial's ``fit`` gets besides the data (as in ``experiments.tune_mlp``)."""
    return {
        "epochs": settings.tuner_epochs,
        "batch_size": settings.batch_size,
        "callbacks": [keras.callbacks.EarlyStopping("val_accuracy", patience=3)],
    }


def run_worker(
    index: int,
    oracle: str,
    profile: str = "smoke",
    *,
    data_dir: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    verbose: str | int = "auto",
    **overrides: Any,
) -> dict:
    """Run trials handed out by the chief at ``oracle`` (HOST:PORT) until it says the search is over.

    Returns ``{"tuner_id", "trials"}``: the ids of the trials this worker ran (its trial folders under
    ``<out>/artifacts/fashion_mlp/tuner/<tuner_id>/``).
    """
    host, port = parse_address(oracle)
    settings = get_settings(EXPERIMENT, profile, **overrides)
    out = OutputPaths(Path(out_dir) if out_dir else default_out_dir(profile), EXPERIMENT)
    tuner_id = worker_id(index)
    training.set_seed(settings.seed)
    data = prepare_data(settings, data_dir)
    with tuner_environment(tuner_id, host, port):
        tuner = make_search_tuner(
            out.artifacts / "tuner" / tuner_id, max_trials=settings.max_trials, seed=settings.seed
        )
        print(f"{tuner_id}: asking the oracle at {host}:{port} for trials", flush=True)
        tuner.search(
            *data.scaled("train"), validation_data=data.scaled("validation"), verbose=verbose, **search_kwargs(settings)
        )
    trials = sorted(p.name.removeprefix("trial_") for p in Path(tuner.project_dir).glob("trial_*") if p.is_dir())
    return {"tuner_id": tuner_id, "trials": trials}


def distributed_summary(tuner: keras_tuner.Tuner, oracle: str) -> dict:
    """:func:`tuning_summary` plus, per trial, the worker that ran it, and the trials per worker."""
    summary = tuning_summary(tuner)
    ran_by = tuner.oracle.tuner_of_trial
    for trial in summary["trials"]:
        trial["tuner_id"] = ran_by.get(trial["trial_id"])
    per_tuner = collections.Counter(t["tuner_id"] for t in summary["trials"] if t["tuner_id"])
    summary["distributed"] = {
        "engine": "keras-tuner chief/worker (gRPC oracle)",
        "oracle": oracle,
        "trials_per_tuner": dict(sorted(per_tuner.items())),
    }
    return summary


def run_chief(
    oracle: str,
    profile: str = "smoke",
    *,
    data_dir: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    verbose: str | int = "auto",
    command: str | None = None,
    **overrides: Any,
) -> dict:
    """Serve the search's oracle on ``oracle`` (HOST:PORT) until the workers are done, then retrain and record.

    The best configuration is retrained with the profile's epochs and recorded like
    ``train fashion_mlp`` (metrics JSON, figures, card), with every trial and its worker under ``tuning``.
    """
    host, port = parse_address(oracle)
    start = time.perf_counter()
    settings = get_settings(EXPERIMENT, profile, **overrides)
    out = OutputPaths(Path(out_dir) if out_dir else default_out_dir(profile), EXPERIMENT)
    training.set_seed(settings.seed)
    data = prepare_data(settings, data_dir)  # checked before the workers are served
    with tuner_environment(CHIEF_ID, host, port):
        tuner = make_search_tuner(
            out.artifacts / "tuner" / CHIEF_ID, max_trials=settings.max_trials, seed=settings.seed
        )
        print(f"chief: serving the oracle on {host}:{port} for {settings.max_trials} trials", flush=True)
        tuner.search(verbose=verbose)  # blocks until the oracle has told every worker to stop
    tuning = distributed_summary(tuner, f"{host}:{port}")
    return train_and_record(
        settings, data, out, start=start, data_dir=data_dir, tuning=tuning, verbose=verbose, command=command
    )
