"""Class names and image sizes of the data sets, in the order the models use."""

FER4_CLASSES: tuple[str, ...] = ("happy", "sad", "neutral", "surprise")
"""The original 4-class experiment's classes, in its order."""

FER7_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
"""All seven FER-2013 emotions, in the data set's (alphabetical) label order."""

FASHION_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
"""Fashion-MNIST label names, indexed by label 0..9."""

FER_IMAGE_SIZE: tuple[int, int] = (48, 48)
FASHION_IMAGE_SIZE: tuple[int, int] = (28, 28)

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
"""CIFAR-10 label names, indexed by label 0..9 (Keras' order, alphabetical too)."""
CIFAR10_IMAGE_SIZE: tuple[int, int] = (32, 32)
