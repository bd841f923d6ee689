"""Probing media and sampling frames from it: videos with PyAV in bounded memory, photos with
Pillow, both behind one media source (:mod:`deepfake_detector.media.sources`)."""

from deepfake_detector.media.probe import VideoInfo, probe
from deepfake_detector.media.sampling import SampledFrame, iter_sampled_frames, sample_times
from deepfake_detector.media.sources import MediaSource, open_media, probe_media

__all__ = [
    "MediaSource",
    "SampledFrame",
    "VideoInfo",
    "iter_sampled_frames",
    "open_media",
    "probe",
    "probe_media",
    "sample_times",
]
