"""Model builders in the ``keras.applications`` style: ``build_x(num_classes, input_shape, ...)``."""

from fer_keras.models.cifar_resnet import build_cifar_resnet
from fer_keras.models.fashion_cnn import build_fashion_cnn
from fer_keras.models.fashion_mlp import (
    SEARCH_SPACE,
    FashionMLPHyperModel,
    build_fashion_mlp,
    make_optimizer,
    make_tuner,
    tuning_summary,
)
from fer_keras.models.fer_cnn import build_fer_cnn

__all__ = [
    "SEARCH_SPACE",
    "FashionMLPHyperModel",
    "build_cifar_resnet",
    "build_fashion_cnn",
    "build_fashion_mlp",
    "build_fer_cnn",
    "make_optimizer",
    "make_tuner",
    "tuning_summary",
]
