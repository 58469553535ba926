"""Model files for inference: save and load ``.keras`` models with their class-names sidecar.

Nothing here imports training, reporting or data-loading code, so :mod:`fer_keras.predict` can
load a model with Keras alone. The published models are found by name in :mod:`fer_keras.presets`.
:mod:`fer_keras.saving.convert` exports a model for ONNX Runtime or LiteRT (``fer-keras export``); the
exported file runs without Keras through :mod:`fer_keras.predict.runtimes`.
"""

from fer_keras.saving.files import classes_path, load_class_names, load_model, save_model, write_class_names

__all__ = ["classes_path", "load_class_names", "load_model", "save_model", "write_class_names"]
