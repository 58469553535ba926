"""The one import site of Keras' legacy ``ImageDataGenerator``.

Keras 3 exports ``ImageDataGenerator`` only through its legacy namespace; every
other module imports it from here, so a future move needs one edit.
"""

from keras.src.legacy.preprocessing.image import ImageDataGenerator

__all__ = ["ImageDataGenerator"]
