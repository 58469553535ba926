"""Saving and converting models: :mod:`fer_keras.saving.convert` exports a ``.keras`` model for inference."""
