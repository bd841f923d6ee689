"""``AnalysisSettings``: ``frame_exact`` turns the serving shortcuts off and keeps everything
else; the device names a setting accepts."""

from __future__ import annotations

import pytest

from deepfake_detector.config import (
    AnalysisSettings,
    SettingsError,
    cuda_wait_from_env,
    settings_from_env,
)


def test_frame_exact_turns_off_snapping_and_guided_search_only() -> None:
    served = AnalysisSettings(frames=12, sample_snap=0.25, full_detect_every=4, detector="haar")
    assert not served.is_frame_exact
    exact = served.frame_exact()
    assert (exact.sample_snap, exact.full_detect_every) == (0.0, 1) and exact.is_frame_exact
    assert (exact.frames, exact.detector) == (12, "haar")
    assert exact.frame_exact() == exact


@pytest.mark.parametrize("device", ["cpu", "cuda", "cuda:0", "cuda:12"])
def test_decode_device_takes_the_cpu_or_a_cuda_device(device: str) -> None:
    assert settings_from_env({"DFD_DECODE_DEVICE": device}).decode_device == device


@pytest.mark.parametrize("device", ["gpu", "cuda:", "cuda:x", "cpu:0", "CUDA", ""])
def test_decode_device_refuses_anything_else(device: str) -> None:
    with pytest.raises(SettingsError, match="DFD_DECODE_DEVICE must be cpu, cuda or cuda:N"):
        settings_from_env({"DFD_DECODE_DEVICE": device})


@pytest.mark.parametrize(("raw", "wait"), [(None, "auto"), ("", "auto"), (" Block ", "block")])
def test_cuda_wait_defaults_to_cudas_own_choice(raw: str | None, wait: str) -> None:
    environ = {} if raw is None else {"DFD_CUDA_WAIT": raw}
    assert cuda_wait_from_env(environ) == wait


def test_cuda_wait_refuses_a_mode_cuda_does_not_have() -> None:
    with pytest.raises(SettingsError, match="CUDA_WAIT must be one of auto, spin, yield, block"):
        cuda_wait_from_env({"DFD_CUDA_WAIT": "sleep"})


def test_analysis_settings_refuse_a_bad_cuda_wait_on_any_machine() -> None:
    with pytest.raises(SettingsError, match="CUDA_WAIT"):
        settings_from_env({"DFD_CUDA_WAIT": "sleep"})
