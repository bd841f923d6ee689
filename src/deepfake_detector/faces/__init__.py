"""Finding faces in frames, linking them into one track per person, and cropping them."""

from deepfake_detector.faces.crop import CropSpec, crop_face, crop_matrix
from deepfake_detector.faces.detector import (
    FaceDetection,
    FaceDetector,
    ScaledFaceDetector,
    available_detectors,
    create_detector,
    register_detector,
)
from deepfake_detector.faces.tracking import FaceTrack, TrackedFace, build_tracks

__all__ = [
    "CropSpec",
    "FaceDetection",
    "FaceDetector",
    "FaceTrack",
    "ScaledFaceDetector",
    "TrackedFace",
    "available_detectors",
    "build_tracks",
    "create_detector",
    "crop_face",
    "crop_matrix",
    "register_detector",
]
