"""Finding faces in frames, linking them into one track per person, and cropping them."""

from deepfake_detector.faces.crop import CropSpec, crop_face
from deepfake_detector.faces.detector import FaceDetection, FaceDetector, create_detector
from deepfake_detector.faces.tracking import FaceTrack, TrackedFace, build_tracks

__all__ = [
    "CropSpec",
    "FaceDetection",
    "FaceDetector",
    "FaceTrack",
    "TrackedFace",
    "build_tracks",
    "create_detector",
    "crop_face",
]
