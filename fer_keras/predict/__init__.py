"""Use a trained model on ordinary photos: find faces, classify their expression, serve it over HTTP."""

from fer_keras.predict.faces import FaceDetector, crop_region, face_crops
from fer_keras.predict.images import BadImageError, read_image
from fer_keras.predict.predictor import (
    PUBLISHED_MODEL,
    Predictor,
    check_model,
    get_predictor,
    load_checked_model,
    predict_faces,
    published_model,
)

__all__ = [
    "PUBLISHED_MODEL",
    "BadImageError",
    "FaceDetector",
    "Predictor",
    "check_model",
    "crop_region",
    "face_crops",
    "get_predictor",
    "load_checked_model",
    "predict_faces",
    "published_model",
    "read_image",
]
