"""Exceptions that carry a message fit to show a user (no traceback ever reaches one)."""


class DetectorError(Exception):
    """Base class: every error the package raises on purpose."""


class MediaError(DetectorError):
    """The input could not be read as a video (not a video, truncated, no video stream, ...)."""


class ModelError(DetectorError):
    """A model could not be found, loaded or run."""
