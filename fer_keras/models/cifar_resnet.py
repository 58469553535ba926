"""A ResNet-9-style network for CIFAR-10 (Page, "How to train your ResNet", 2018), with a width multiplier."""

from __future__ import annotations

import keras
from keras import layers

CIFAR10_MEAN: tuple[float, float, float] = (0.4914, 0.4822, 0.4465)
"""Per-channel mean of CIFAR-10's training images in [0, 1] (the usual published values)."""
CIFAR10_STD: tuple[float, float, float] = (0.2470, 0.2435, 0.2616)
"""Per-channel standard deviation of CIFAR-10's training images in [0, 1]."""


def _conv_bn(x, filters: int, name: str, bn_momentum: float):
    """3x3 ``Conv2D`` (no bias) -> BatchNorm -> ReLU."""
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def build_cifar_resnet(
    num_classes: int = 10,
    input_shape: tuple[int, int, int] = (32, 32, 3),
    *,
    width: float = 1.0,
    logit_scale: float = 0.125,
    bn_momentum: float = 0.9,
    name: str = "cifar_resnet",
) -> keras.Model:
    """Build the uncompiled ResNet-9: a stem, three stages with max-pooling, two residual blocks, a softmax.

    Stem ``64w`` filters; stages ``128w`` (+ residual block), ``256w``, ``512w`` (+ residual block),
    each a conv-BN-ReLU followed by 2x2 max-pooling; global max-pooling; one ``Dense`` layer whose
    logits are multiplied by ``logit_scale`` (which keeps the first epochs stable at high learning
    rates). ``width=1`` has 6.57 M parameters, ``width=0.5`` 1.65 M. Inputs are RGB in [0, 1]; the
    model standardises them with CIFAR-10's channel statistics itself.

    Example:
    >>> model = build_cifar_resnet(10, width=0.25)
    >>> model.output_shape
    (None, 10)
    """
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    filters = [max(8, round(f * width)) for f in (64, 128, 256, 512)]
    inputs = keras.Input(shape=input_shape, name="image")
    variance = [s * s for s in CIFAR10_STD]
    x = layers.Normalization(mean=list(CIFAR10_MEAN), variance=variance, name="standardize")(inputs)
    x = _conv_bn(x, filters[0], "stem", bn_momentum)
    for stage, (width_k, residual) in enumerate(zip(filters[1:], (True, False, True), strict=True), start=1):
        x = _conv_bn(x, width_k, f"stage{stage}", bn_momentum)
        x = layers.MaxPooling2D(2, name=f"stage{stage}_pool")(x)
        if residual:
            shortcut = x
            for conv in (1, 2):
                x = _conv_bn(x, width_k, f"stage{stage}_res{conv}", bn_momentum)
            x = layers.Add(name=f"stage{stage}_add")([shortcut, x])
    x = layers.GlobalMaxPooling2D(name="global_pool")(x)
    x = layers.Dense(num_classes, name="logits")(x)
    x = layers.Rescaling(logit_scale, name="logit_scale")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)
