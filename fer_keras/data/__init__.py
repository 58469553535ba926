"""Data: locate the data root, list and check FER-2013 folders, read Fashion-MNIST, build loaders."""

from fer_keras.data.cifar import CIFAR_AUGMENTATION, CifarData, cifar10_frames, load_cifar10
from fer_keras.data.fashion import FashionData, load_fashion, load_fashion_arrays, read_idx
from fer_keras.data.fer import (
    DEFAULT_AUGMENTATION,
    FerData,
    check_images,
    fer_frames,
    flow_frame,
    list_class_images,
    list_fer_images,
    load_fer,
    load_sample_images,
)
from fer_keras.data.paths import DATA_ENV_VAR, DataError, resolve_data_root

__all__ = [
    "CIFAR_AUGMENTATION",
    "CifarData",
    "cifar10_frames",
    "load_cifar10",
    "DATA_ENV_VAR",
    "DEFAULT_AUGMENTATION",
    "DataError",
    "FashionData",
    "FerData",
    "check_images",
    "fer_frames",
    "flow_frame",
    "list_class_images",
    "list_fer_images",
    "load_fashion",
    "load_fashion_arrays",
    "load_fer",
    "load_sample_images",
    "read_idx",
    "resolve_data_root",
]
