"""Networks, checkpoint formats, ONNX export and runtime backends for the face classifier."""

from deepfake_detector.models.classifier import Classifier, ClipScores, ModelInfo, load_classifier

__all__ = ["Classifier", "ClipScores", "ModelInfo", "load_classifier"]
