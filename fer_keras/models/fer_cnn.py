"""The 7-conv / 2-dense grayscale CNN of the FER experiments."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from fer_keras import layers as _custom_layers  # noqa: F401 - registers RandomAffine, the in-model augmentation

# Four blocks: two convolutions in each of the first three, one in the last (7 in all).
CONV_BLOCKS: tuple[tuple[int, int], ...] = ((64, 2), (128, 2), (256, 2), (512, 1))


def build_fer_cnn(
    num_classes: int,
    input_shape: tuple[int, int, int] = (48, 48, 1),
    *,
    conv_blocks: Sequence[tuple[int, int]] = CONV_BLOCKS,
    dense_units: Sequence[int] = (1024, 768),
    conv_dropout: float = 0.25,
    dense_dropout: float = 0.5,
    l2: float = 0.0,
    bn_momentum: float = 0.9,
    augmentation: keras.layers.Layer | None = None,
    name: str = "fer_cnn",
) -> keras.Model:
    """Build the uncompiled FER CNN: 7 ``Conv2D`` (3x3, ReLU, BatchNorm), 2 hidden ``Dense``, softmax.

    Blocks of (filters, convolutions) each end in 2x2 max-pooling and dropout; the
    two hidden dense layers use BatchNorm and dropout. With the defaults and 4
    classes the model has 7,847,108 parameters (the original experiment's had
    7,842,500). Any class count and input size (>= 16x16) work. ``augmentation`` is an
    optional training-only layer placed right after the input (keras-io style).
    ``bn_momentum`` 0.9 (Keras' default is 0.99) lets BatchNorm's moving statistics settle
    within a few dozen steps, so short runs evaluate sensibly too.
    """
    regularizer = keras.regularizers.L2(l2) if l2 else None
    inputs = keras.Input(shape=input_shape, name="image")
    x = augmentation(inputs) if augmentation is not None else inputs
    for block, (filters, convs) in enumerate(conv_blocks, start=1):
        for conv in range(1, convs + 1):
            x = layers.Conv2D(
                filters,
                3,
                padding="same",
                activation="relu",
                kernel_regularizer=regularizer,
                name=f"block{block}_conv{conv}",
            )(x)
            x = layers.BatchNormalization(momentum=bn_momentum, name=f"block{block}_bn{conv}")(x)
        x = layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
        x = layers.Dropout(conv_dropout, name=f"block{block}_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    for index, units in enumerate(dense_units, start=1):
        x = layers.Dense(units, activation="relu", kernel_regularizer=regularizer, name=f"dense{index}")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"dense{index}_bn")(x)
        x = layers.Dropout(dense_dropout, name=f"dense{index}_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)
