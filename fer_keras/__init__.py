"""fer_keras: Keras 3 experiments on FER-2013 and Fashion-MNIST.

Builders, loaders, training, evaluation, figures and model cards; see the
notebooks for the narrated experiments.
"""

from fer_keras.constants import FASHION_CLASSES, FER4_CLASSES, FER7_CLASSES
from fer_keras.data import augment as _augment  # noqa: F401 - registers the custom layers (RandomAffine) with Keras

__version__ = "0.1.0"

__all__ = ["FASHION_CLASSES", "FER4_CLASSES", "FER7_CLASSES", "__version__"]
