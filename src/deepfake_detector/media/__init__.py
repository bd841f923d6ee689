"""Probing videos and sampling frames from them with PyAV, in bounded memory."""

from deepfake_detector.media.probe import VideoInfo, probe
from deepfake_detector.media.sampling import SampledFrame, iter_sampled_frames, sample_times

__all__ = ["SampledFrame", "VideoInfo", "iter_sampled_frames", "probe", "sample_times"]
