"""Describe a model from the objects that trained it: architecture, compiled optimizer and loss, dtype policy.

Cards and metrics JSON take every training detail from here rather than from the
settings that were meant, so they say what the saved model says.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np


def _plain(value: Any) -> Any:
    """JSON-safe copy of a Keras config value (numpy scalars to Python numbers)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def base_optimizer(model: keras.Model) -> keras.optimizers.Optimizer:
    """The compiled optimizer, unwrapped from a ``LossScaleOptimizer`` (float16 mixed precision)."""
    optimizer = model.optimizer
    if optimizer is None:
        raise ValueError(f"Model {model.name!r} is not compiled: call model.compile(...) first")
    return getattr(optimizer, "inner_optimizer", optimizer)


def describe_learning_rate(config_value: Any) -> str:
    """Text for an optimizer config's ``learning_rate``: a number or a serialized schedule."""
    if isinstance(config_value, dict):
        schedule = config_value.get("config", {})
        name = config_value.get("class_name", "schedule")
        if name == "CosineDecay" and schedule.get("warmup_target") and schedule.get("warmup_steps"):
            peak, end = schedule["warmup_target"], schedule.get("alpha", 0.0) * schedule["warmup_target"]
            return (
                f"{schedule['initial_learning_rate']:g} rising linearly to {peak:g} over {schedule['warmup_steps']:,} "
                f"steps, then cosine decay over {schedule['decay_steps']:,} steps to {end:g}"
            )
        if name == "CosineDecay":
            return (
                f"{schedule['initial_learning_rate']:g} with cosine decay over {schedule['decay_steps']:,} steps"
                f" to {schedule.get('alpha', 0.0) * schedule['initial_learning_rate']:g}"
            )
        return f"{name}({', '.join(f'{k}={v}' for k, v in schedule.items() if k != 'name')})"
    return f"{float(config_value):g}"


def describe_optimizer(model: keras.Model) -> dict[str, Any]:
    """Class, ``get_config()`` and a one-line text of the model's compiled optimizer."""
    optimizer = base_optimizer(model)
    config = _plain(optimizer.get_config())
    extras = []
    if config.get("momentum"):
        extras.append(f"momentum {config['momentum']:g}")
    if config.get("nesterov"):
        extras.append("Nesterov")
    if config.get("weight_decay"):
        extras.append(f"weight decay {config['weight_decay']:g}")
    text = f"{type(optimizer).__name__}, learning rate {describe_learning_rate(config['learning_rate'])}"
    return {
        "class_name": type(optimizer).__name__,
        "config": config,
        "text": text + (f" ({', '.join(extras)})" if extras else ""),
    }


def describe_loss(model: keras.Model) -> dict[str, Any]:
    """Class, config and a one-line text of the model's compiled loss."""
    loss = model.loss
    if isinstance(loss, str):
        loss = keras.losses.get(loss)
    if isinstance(loss, keras.losses.Loss):
        config = _plain(loss.get_config())
        name = type(loss).__name__
    else:  # a plain function
        config, name = {}, getattr(loss, "__name__", str(loss))
    smoothing = config.get("label_smoothing") or 0.0
    text = name + (f" (label smoothing {smoothing:g})" if smoothing else "")
    return {"class_name": name, "config": config, "label_smoothing": float(smoothing), "text": text}


def describe_dtype_policy(model: keras.Model) -> dict[str, str]:
    """The dtype policy the model's layers were built with (variables and computations).

    Read from the layers that hold weights (the most common policy among them), not from the model object:
    a model loaded from a ``.keras`` file gets the global policy at load time, while its layers keep theirs.
    """
    policies = [layer.dtype_policy for layer in model.layers if layer.weights] or [model.dtype_policy]
    names = [policy.name for policy in policies]
    policy = policies[names.index(max(set(names), key=names.count))]
    return {"name": policy.name, "compute_dtype": policy.compute_dtype, "variable_dtype": policy.variable_dtype}


def compiled_metric_names(model: keras.Model) -> list[str]:
    """Names of the metrics ``model`` was compiled with (before or after training)."""
    names = []
    for metric in (model.get_compile_config() or {}).get("metrics") or []:
        if isinstance(metric, str):
            names.append(metric)
        elif isinstance(metric, dict):
            config = metric.get("config", {})
            names.append(config.get("name", metric.get("class_name", "?")) if isinstance(config, dict) else str(config))
        else:
            names.append(getattr(metric, "name", str(metric)))
    return names


def describe_compiled(model: keras.Model) -> dict[str, Any]:
    """Optimizer, loss, compiled metrics and dtype policy, read from the compiled ``model``."""
    metric_names = compiled_metric_names(model)
    return {
        "optimizer": describe_optimizer(model),
        "loss": describe_loss(model),
        "metrics": metric_names,
        "dtype_policy": describe_dtype_policy(model),
    }


def describe_architecture(model: keras.Model) -> dict[str, Any]:
    """Parameter counts and a per-layer table of ``model`` (name, type, output shape, params)."""
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


AUGMENTATION_KEYS: tuple[str, ...] = (
    "rotation_range",
    "width_shift_range",
    "height_shift_range",
    "zoom_range",
    "horizontal_flip",
    "vertical_flip",
    "shear_range",
    "brightness_range",
)


def _generator_augmentation(generator: Any) -> dict[str, Any]:
    """The augmentation an ``ImageDataGenerator`` applies (its non-default transform settings)."""
    out = {}
    for key in AUGMENTATION_KEYS:
        value = getattr(generator, key, None)
        if key == "zoom_range" and value is not None and list(value) == [1.0, 1.0]:
            continue
        if value is not None and value is not False and value != 0:
            out[key] = _plain(list(value) if isinstance(value, (tuple, np.ndarray)) else value)
    cutout = getattr(getattr(generator, "preprocessing_function", None), "size", None)
    if cutout:
        out["cutout"] = int(cutout)
    return out


def describe_augmentation(model: keras.Model, train_feed: Any) -> dict[str, Any]:
    """Where training augmentation ran and with which settings, read from the model and the feed.

    ``where`` is ``"model"`` (a ``RandomAffine`` layer, active only in training), ``"feed"``
    (the ImageDataGenerator or array feed warps each batch on the CPU) or ``"none"``.
    """
    for layer in model.layers:
        if type(layer).__name__ == "RandomAffine":
            config = layer.get_config()
            settings = {k: _plain(config[k]) for k in AUGMENTATION_KEYS if config.get(k)}
            return {"where": "model", "layer": layer.name, "settings": settings}
    generator = getattr(train_feed, "image_data_generator", None)
    if generator is not None:
        settings = _generator_augmentation(generator)
    else:
        settings = dict(getattr(train_feed, "augment", None) or {})
    if settings:
        return {"where": "feed", "layer": type(train_feed).__name__, "settings": _plain(settings)}
    return {"where": "none", "layer": None, "settings": {}}
