"""Decoding on an NVIDIA GPU (``DFD_DECODE_DEVICE=cuda``, FFmpeg's NVDEC through PyAV) gives the
frames decoding on the CPU gives.

Where FFmpeg cannot open the CUDA device (every machine without an NVIDIA GPU, and on any
machine a device number that does not exist) the file is decoded on the CPU and one warning
is logged. The ``cuda`` rows run NVDEC on a machine with a GPU (``benchmarks/gpu_check.sh``
runs this file there) and the CPU fallback elsewhere; the ``cuda:63`` rows are the fallback
everywhere.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

from deepfake_detector.errors import MediaError
from deepfake_detector.media import iter_sampled_frames, probe, reader, sample_times

import video_factory

NO_SUCH_GPU = "cuda:63"
HAS_GPU = torch.cuda.is_available()


@pytest.fixture(autouse=True)
def _devices_untried(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a fresh process would: no device known to fail."""
    monkeypatch.setattr(reader, "_cuda_unusable", set())


def _decode(path: Path, device: str) -> list:
    info = probe(str(path))
    times = sample_times(info, count=12)
    return list(iter_sampled_frames(str(path), info, times, snap=0.25, device=device))


@pytest.mark.parametrize("device", ["cuda", NO_SUCH_GPU])
@pytest.mark.parametrize("clip", ["mp4-bframes", "webm-vp9", "avi-mjpeg"])
def test_a_gpu_decodes_the_frames_the_cpu_decodes(
    indexed_clips: dict[str, Path], clip: str, device: str
) -> None:
    cpu = _decode(indexed_clips[clip], "cpu")
    gpu = _decode(indexed_clips[clip], device)
    assert reader.decoding_on(device) == ("cuda" if device == "cuda" and HAS_GPU else "cpu")
    _assert_same_frames(gpu, cpu, clip)


def _assert_same_frames(gpu: list, cpu: list, clip: str) -> None:
    assert [(s.sample_index, s.time_s) for s in gpu] == [(s.sample_index, s.time_s) for s in cpu]
    for a, b in zip(gpu, cpu, strict=True):
        assert a.image.shape == b.image.shape and a.image.dtype == np.uint8
        assert video_factory.read_index(a.image) == video_factory.read_index(b.image)
        # H.264 and VP9 decoders are bit-exact, and NV12 is converted as planar YUV
        # (reader.to_upright_rgb); JPEG's inverse DCT may round differently on the GPU.
        tolerance = 4 if clip == "avi-mjpeg" else 0
        assert np.abs(a.image.astype(np.int16) - b.image).max() <= tolerance


def test_a_device_that_does_not_open_is_reported_once_and_decoding_goes_on(
    indexed_clips: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=reader.__name__):
        first = _decode(indexed_clips["mp4"], NO_SUCH_GPU)
        second = _decode(indexed_clips["mp4-bframes"], NO_SUCH_GPU)
    assert len(first) == len(second) == 12
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "Decoding on the CPU" in warnings[0] and NO_SUCH_GPU in warnings[0]
    assert reader.decoding_on(NO_SUCH_GPU) == "cpu"


def test_a_bad_file_is_the_file_s_fault_not_the_device_s(tmp_path: Path) -> None:
    bad = tmp_path / "cut.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(2000))
    with pytest.raises(MediaError) as on_cpu:
        reader.open_video(bad).__enter__()
    with pytest.raises(MediaError) as on_gpu:
        reader.open_video(bad, NO_SUCH_GPU).__enter__()
    assert str(on_gpu.value) == str(on_cpu.value)
    assert reader.decoding_on(NO_SUCH_GPU) == NO_SUCH_GPU  # the next file tries the device again


@pytest.mark.parametrize(("semi_planar", "bits"), [("nv12", 8), ("p010le", 10)])
def test_a_frame_handed_back_semi_planar_gives_the_planar_frame_s_rgb(
    semi_planar: str, bits: int
) -> None:
    """NVDEC hands frames back as NV12 (P010 for 10-bit video); converted straight to RGB,
    swscale's chroma handling puts NV12 many levels away from the planar frame the CPU
    decodes (P010 converts as its planar form). ``to_upright_rgb`` gives the planar frame's
    RGB either way."""
    import av

    photo = av.VideoFrame.from_ndarray(video_factory.astronaut(), format="rgb24")
    planar = photo.reformat(format="yuv420p" if bits == 8 else "yuv420p10le")
    handed_back = planar.reformat(format=semi_planar)
    want = reader.to_upright_rgb(planar, 0)
    direct = handed_back.to_ndarray(format="rgb24").astype(np.int16)
    if semi_planar == "nv12":  # the difference the conversion is there for
        assert np.abs(direct - want).max() > 8
    assert np.array_equal(reader.to_upright_rgb(handed_back, 0), want)


def test_nvdec_shares_the_gpu_with_pytorch_from_any_thread(indexed_clips: dict[str, Path]) -> None:
    """A worker that scores on the GPU holds its primary context with PyTorch's flags, which
    FFmpeg's own request for it refuses; decoding still happens on the GPU, in a job thread
    that has never touched CUDA too. Without a GPU, that thread decodes on the CPU."""
    clip = indexed_clips["mp4-bframes"]
    if HAS_GPU:
        torch.ones(1, device="cuda").sum().item()  # PyTorch makes the primary context first
    cpu = _decode(clip, "cpu")
    with ThreadPoolExecutor(1) as fresh_thread:
        gpu = fresh_thread.submit(_decode, clip, "cuda").result()
    assert reader.decoding_on("cuda") == ("cuda" if HAS_GPU else "cpu")
    _assert_same_frames(gpu, cpu, "mp4-bframes")
