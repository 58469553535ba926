"""Use a trained model on ordinary photos and videos: find faces, classify their expression, serve it over HTTP."""

from fer_keras.predict.align import align_faces
from fer_keras.predict.detectors import Detection, HaarDetector, YuNetDetector, get_detector
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
from fer_keras.predict.runtimes import load_runtime
from fer_keras.predict.video import BadVideoError, analyze_video, is_video

__all__ = [
    "PUBLISHED_MODEL",
    "BadImageError",
    "BadVideoError",
    "Detection",
    "FaceDetector",
    "HaarDetector",
    "Predictor",
    "YuNetDetector",
    "align_faces",
    "analyze_video",
    "check_model",
    "crop_region",
    "face_crops",
    "get_detector",
    "get_predictor",
    "is_video",
    "load_checked_model",
    "load_runtime",
    "predict_faces",
    "published_model",
    "read_image",
]
