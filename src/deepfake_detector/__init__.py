"""Deepfake video detection: sample frames across a video, find and track faces, score each one."""

__version__ = "0.1.0"
