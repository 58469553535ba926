"""The one import site of Keras' legacy ``ImageDataGenerator``.

Keras 3 exports ``ImageDataGenerator`` only through its legacy namespace; every
other module imports it (and ``ImageIterator``, the base class of the iterators its
``flow*`` methods return) from here, so a future move needs one edit.
"""

from keras.src.legacy.preprocessing.image import ImageDataGenerator
from keras.src.legacy.preprocessing.image import Iterator as ImageIterator

__all__ = ["ImageDataGenerator", "ImageIterator"]
