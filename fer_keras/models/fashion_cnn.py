"""A small CNN for Fashion-MNIST, to compare against the tuned MLP."""

from __future__ import annotations

import keras
from keras import layers


def build_fashion_cnn(
    num_classes: int = 10,
    input_shape: tuple[int, int, int] = (28, 28, 1),
    *,
    filters: tuple[int, int] = (32, 64),
    dense_units: int = 256,
    dropout: float = 0.3,
    bn_momentum: float = 0.9,
    name: str = "fashion_cnn",
) -> keras.Model:
    """Build the uncompiled CNN: two blocks of two 3x3 ``Conv2D`` + BatchNorm + pooling, a Dense layer, softmax."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for block, width in enumerate(filters, start=1):
        for conv in (1, 2):
            x = layers.Conv2D(width, 3, padding="same", activation="relu", name=f"block{block}_conv{conv}")(x)
            x = layers.BatchNormalization(momentum=bn_momentum, name=f"block{block}_bn{conv}")(x)
        x = layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
        x = layers.Dropout(dropout, name=f"block{block}_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense_units, activation="relu", name="dense1")(x)
    x = layers.Dropout(2 * dropout, name="dense1_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)
