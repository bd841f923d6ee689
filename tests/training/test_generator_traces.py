"""Generator-trace fakes made from real portraits: up-sampling, autoencoder, flicker, mixer."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from deepfake_detector.training.config import ConfigError
from deepfake_detector.training.families import (
    FakeMixer,
    available_families,
    build_families,
    register_family,
)
from deepfake_detector.training.generator_traces import (
    UPSAMPLING_MODES,
    AutoencoderSequence,
    AutoencoderTrace,
    TemporalFlicker,
    UpsamplingConfig,
    UpsamplingTrace,
    load_autoencoder,
    save_autoencoder,
    train_autoencoder,
    upsampling_trace,
)

import video_factory

FAKE_FAMILIES = build_families(["selfblend", "upsampling", "flicker"])

SIZE = 160


def _square(image: np.ndarray, box: tuple[int, int, int, int], grow: float) -> np.ndarray:
    """A square crop around a face box (by hand, no detector), resized to SIZE."""
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) // 2, (y1 + y2) // 2
    half = round(max(x2 - x1, y2 - y1) * grow / 2)
    crop = image[cy - half : cy + half, cx - half : cx + half]
    return cv2.resize(crop, (SIZE, SIZE), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module", params=["astronaut", "grace_hopper"])
def crop(request: pytest.FixtureRequest) -> np.ndarray:
    if request.param == "astronaut":
        return _square(video_factory.astronaut(), video_factory.ASTRONAUT_FACE, 1.4)
    return _square(video_factory.grace_hopper(), video_factory.GRACE_HOPPER_FACE, 1.3)


@pytest.fixture(scope="module")
def track() -> list[np.ndarray]:
    """Six frames of a still face with sensor noise (sigma 1 level): an untouched track."""
    frame = _square(video_factory.astronaut(), video_factory.ASTRONAUT_FACE, 1.4)
    rng = np.random.default_rng(0)
    noisy = [frame + rng.normal(0.0, 1.0, frame.shape) for _ in range(6)]
    return [np.clip(np.rint(f), 0, 255).astype(np.uint8) for f in noisy]


def _nyquist_peak(image: np.ndarray) -> float:
    """Largest luminance-spectrum peak at Nyquist / half-Nyquist, relative to its neighbours.

    Power at each bin is divided by the median power of its 7x7 neighbourhood: ~1 for a
    smooth natural spectrum, large for a periodic (checkerboard) pattern.
    """
    y = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    power = np.abs(np.fft.fft2(y - y.mean())) ** 2
    n = y.shape[0]
    bins = [(n // 2, 0), (0, n // 2), (n // 2, n // 2)]
    bins += [(n // 4, 0), (0, n // 4), (n // 4, n // 4), (n // 2, n // 4), (n // 4, n // 2)]
    ratios = []
    for u, v in bins:
        around = [
            power[(u + du) % n, (v + dv) % n]
            for du in range(-3, 4)
            for dv in range(-3, 4)
            if (du, dv) != (0, 0)
        ]
        ratios.append(power[u, v] / np.median(around))
    return float(max(ratios))


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


@pytest.fixture(scope="module")
def autoencoder() -> object:
    crops = [
        _square(video_factory.astronaut(), video_factory.ASTRONAUT_FACE, 1.4),
        _square(video_factory.grace_hopper(), video_factory.GRACE_HOPPER_FACE, 1.3),
    ]
    history: list[float] = []
    model = train_autoencoder(crops, steps=40, size=32, seed=3, batch_size=4, history=history)
    return model, history


# --- up-sampling -----------------------------------------------------------------------------


def test_upsampling_is_deterministic_and_keeps_shape(crop: np.ndarray) -> None:
    trace = UpsamplingTrace()
    a, mask_a = trace(crop, None, np.random.default_rng(5))
    b, mask_b = trace(crop, None, np.random.default_rng(5))
    c, _ = trace(crop, None, np.random.default_rng(6))
    assert a.shape == crop.shape and a.dtype == np.uint8
    assert mask_a.shape == crop.shape[:2] and mask_a.dtype == np.float32
    assert np.array_equal(a, b) and np.array_equal(mask_a, mask_b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, crop)


@pytest.mark.parametrize("mode", UPSAMPLING_MODES)
@pytest.mark.parametrize("factor", [2, 4])
def test_upsampling_any_size_and_brightness_kept(mode: str, factor: int) -> None:
    image = _square(video_factory.astronaut(), video_factory.ASTRONAUT_FACE, 1.4)[:157, :157]
    out = upsampling_trace(image, np.random.default_rng(0), factor=factor, mode=mode)
    assert out.shape == image.shape and out.dtype == np.uint8
    # Kernels are normalised: per-channel means move by well under one level... plus rounding.
    assert np.abs(out.mean((0, 1)) - image.mean((0, 1))).max() < 1.5


@pytest.mark.parametrize("mode", ["transposed4", "transposed3"])
@pytest.mark.parametrize("factor", [2, 4])
def test_transposed_upsampling_leaves_spectral_peaks(
    crop: np.ndarray, mode: str, factor: int
) -> None:
    real = _nyquist_peak(crop)
    for seed in range(3):
        fake = upsampling_trace(crop, np.random.default_rng(seed), factor=factor, mode=mode)
        assert _nyquist_peak(fake) > 5 * max(real, 10.0)


def test_upsampling_stays_close_to_the_real_crop(crop: np.ndarray) -> None:
    for seed in range(3):
        fake = upsampling_trace(crop, np.random.default_rng(seed), factor=2, mode="transposed4")
        assert _psnr(crop, fake) > 25.0


def test_masked_trace_leaves_the_outside_untouched(crop: np.ndarray) -> None:
    trace = UpsamplingTrace(UpsamplingConfig(whole_crop_p=0.0))
    fake, mask = trace(crop, None, np.random.default_rng(1))
    assert 0.0 < mask.mean() < 1.0
    assert np.array_equal(fake[mask == 0], crop[mask == 0])
    _, full = UpsamplingTrace(UpsamplingConfig(whole_crop_p=1.0))(
        crop, None, np.random.default_rng(1)
    )
    assert np.all(full == 1.0)


# --- autoencoder -----------------------------------------------------------------------------


def test_autoencoder_trains_and_is_small(autoencoder: tuple) -> None:
    model, history = autoencoder
    assert len(history) == 40
    assert np.mean(history[-5:]) < 0.8 * np.mean(history[:5])
    assert sum(p.numel() for p in model.parameters()) < 1_000_000


def test_autoencoder_training_is_seeded() -> None:
    crops = [_square(video_factory.astronaut(), video_factory.ASTRONAUT_FACE, 1.4)]
    runs = []
    for _ in range(2):
        history: list[float] = []
        train_autoencoder(crops, steps=3, size=32, seed=9, batch_size=2, history=history)
        runs.append(history)
    assert runs[0] == runs[1]


def test_autoencoder_round_trip_and_trace(autoencoder: tuple, tmp_path: Path) -> None:
    model, _ = autoencoder
    path = tmp_path / "ae.safetensors"
    save_autoencoder(model, path)
    loaded = load_autoencoder(path)
    face = _square(video_factory.astronaut(), video_factory.ASTRONAUT_FACE, 1.4)[:150, :150]
    a, mask_a = AutoencoderTrace(model)(face, None, np.random.default_rng(2))
    b, mask_b = AutoencoderTrace(loaded)(face, None, np.random.default_rng(2))
    assert a.shape == face.shape and a.dtype == np.uint8
    assert np.array_equal(a, b) and np.array_equal(mask_a, mask_b)
    assert not np.array_equal(a, face)


def test_nearest_decoder_variant_runs() -> None:
    crops = [_square(video_factory.astronaut(), video_factory.ASTRONAUT_FACE, 1.4)]
    model = train_autoencoder(crops, steps=2, size=32, seed=0, batch_size=2, upsample="nearest")
    fake, _ = AutoencoderTrace(model)(crops[0], None, np.random.default_rng(0))
    assert fake.shape == crops[0].shape


# --- temporal flicker and consistency --------------------------------------------------------


def _temporal_difference(frames: list[np.ndarray]) -> float:
    stack = np.stack(frames).astype(np.float64)
    return float(np.abs(np.diff(stack, axis=0)).mean())


def test_flicker_makes_neighbouring_frames_disagree(track: list[np.ndarray]) -> None:
    landmarks = [None] * len(track)
    fakes = TemporalFlicker()(track, landmarks, np.random.default_rng(4))
    again = TemporalFlicker()(track, landmarks, np.random.default_rng(4))
    assert len(fakes) == len(track)
    assert all(
        f.shape == c.shape and f.dtype == np.uint8 for f, c in zip(fakes, track, strict=True)
    )
    assert all(np.array_equal(a, b) for a, b in zip(fakes, again, strict=True))
    assert _temporal_difference(fakes) > 1.5 * _temporal_difference(track)


@pytest.mark.parametrize("name", ["selfblend", "upsampling"])
def test_consistent_families_are_stable_over_a_static_track(name: str) -> None:
    frame = _square(video_factory.astronaut(), video_factory.ASTRONAUT_FACE, 1.4)
    fakes = FAKE_FAMILIES[name]([frame] * 4, [None] * 4, np.random.default_rng(0))
    assert not np.array_equal(fakes[0], frame)
    assert all(np.array_equal(f, fakes[0]) for f in fakes)


# --- dispatcher ------------------------------------------------------------------------------


def test_mixer_is_reproducible_and_follows_weights(track: list[np.ndarray]) -> None:
    small = [cv2.resize(t, (64, 64), interpolation=cv2.INTER_AREA) for t in track[:2]]
    weights = {"selfblend": 0.5, "upsampling": 0.3, "flicker": 0.2}
    mixer = FakeMixer(weights | {"autoencoder": 0.0}, FAKE_FAMILIES | {"autoencoder": None})
    assert mixer.names == list(weights)  # weight 0: never drawn, never built
    names = []
    for seed in range(30):
        fakes, k = mixer(small, [None, None], np.random.default_rng(seed))
        again, same = mixer(small, [None, None], np.random.default_rng(seed))
        assert k == same
        assert all(np.array_equal(a, b) for a, b in zip(fakes, again, strict=True))
        names.append(mixer.names[k])
    assert set(names) == {"selfblend", "upsampling", "flicker"}
    assert names.count("selfblend") > names.count("flicker")


def test_one_registry_builds_every_family(autoencoder: tuple, tmp_path: Path) -> None:
    model, _ = autoencoder
    assert {"selfblend", "upsampling", "autoencoder", "flicker"} <= set(available_families())
    frames = [_square(video_factory.astronaut(), video_factory.ASTRONAUT_FACE, 1.4)] * 2
    path = tmp_path / "ae.safetensors"
    save_autoencoder(model, path)
    families = build_families(["autoencoder"], autoencoder=str(path))
    fakes, k = FakeMixer({"autoencoder": 1.0}, families)(
        frames, [None, None], np.random.default_rng(0)
    )
    assert k == 0 and len(fakes) == 2
    with pytest.raises(RuntimeError, match="trained model"):
        AutoencoderSequence(None)(frames, [None, None], np.random.default_rng(0))
    with pytest.raises(ConfigError, match="autoencoder path"):
        build_families(["autoencoder"])
    with pytest.raises(ConfigError, match="unknown fake family 'gan'"):
        build_families(["selfblend", "gan"])
    with pytest.raises(ValueError, match="unknown"):
        FakeMixer({"gan": 1.0}, FAKE_FAMILIES)
    with pytest.raises(ValueError):
        FakeMixer({"selfblend": 0.0}, FAKE_FAMILIES)
    with pytest.raises(ValueError):
        FAKE_FAMILIES["flicker"](frames, [None], np.random.default_rng(0))
    with pytest.raises(ValueError, match="twice"):
        register_family("selfblend")(lambda context: FAKE_FAMILIES["selfblend"])
