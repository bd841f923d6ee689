"""Re-encoding with PyAV's bundled encoders: the augmentation's in-memory H.264 round trip, the
codec check's transcodes, and the codec check itself on a real face video and the real model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from deepfake_detector.analysis import Analyzer
from deepfake_detector.config import AnalysisSettings
from deepfake_detector.training.codec_check import (
    codec_check,
    codec_markdown,
    same_frames_and_faces,
)
from deepfake_detector.training.index import FAKE, REAL, IndexItem
from deepfake_detector.training.reencode import (
    CODEC_CHECK_SETTINGS,
    roundtrip_frames,
    transcode_video,
)

from video_factory import ASTRONAUT_FACE, astronaut, panning_face


def test_roundtrip_keeps_size_count_and_content() -> None:
    x1, y1, x2, y2 = ASTRONAUT_FACE
    face = astronaut()[y1 - 20 : y2 + 20, x1 - 20 : x2 + 20]
    frames = [np.ascontiguousarray(np.roll(face, k, axis=1)) for k in range(5)]
    for crf in (18, 40):
        out = roundtrip_frames(frames, crf)
        assert len(out) == 5 and all(o.shape == face.shape and o.dtype == np.uint8 for o in out)
        error = np.mean(
            [np.abs(o.astype(int) - f.astype(int)).mean() for o, f in zip(out, frames, strict=True)]
        )
        assert 0 < error < (6 if crf == 18 else 20)  # changed, but still the same picture
    # Harsher compression loses more.
    low = roundtrip_frames(frames, 18)
    high = roundtrip_frames(frames, 45)
    err = [np.abs(a.astype(int) - frames[0].astype(int)).mean() for a in (low[0], high[0])]
    assert err[0] < err[1]


@pytest.fixture(scope="module")
def face_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return panning_face(tmp_path_factory.mktemp("codec") / "face.mp4", duration_s=2.0)


@pytest.mark.parametrize("setting", CODEC_CHECK_SETTINGS, ids=lambda s: s.name)
def test_transcode_writes_the_codec_asked_for(face_clip: Path, tmp_path: Path, setting) -> None:
    target = tmp_path / f"out.{setting.container}"
    transcode_video(face_clip, target, setting, max_seconds=1.0)
    assert not list(tmp_path.glob("*.part"))
    with av.open(str(target)) as c:
        stream = c.streams.video[0]
        expected = {
            "libx264": {"h264"},
            "libx265": {"hevc"},
            "libvpx-vp9": {"vp9", "libvpx-vp9"},
            "libsvtav1": {"av1", "libdav1d"},  # the decoder's name
        }
        assert stream.codec_context.name in expected[setting.codec]
        frames = sum(1 for _ in c.decode(stream))
    assert 20 <= frames <= 27  # one second at 25 fps (the last frame may start at 1.0 s)


def test_codec_check_scores_every_version(face_clip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every version is analysed frame-exact and searched whole for faces even when the analyzer
    snaps samples to keyframes (each encoder puts them elsewhere) and guides its searches, with
    the same loaded model."""
    analyzer = Analyzer(AnalysisSettings(frames=4, sample_snap=0.5, full_detect_every=4))
    snaps: list[tuple[float, int]] = []
    analyze = Analyzer.analyze

    def spy(self: Analyzer, *args: Any, **kwargs: Any) -> Any:
        snaps.append((self.settings.sample_snap, self.settings.full_detect_every))
        assert self.classifier is analyzer.classifier
        return analyze(self, *args, **kwargs)

    monkeypatch.setattr(Analyzer, "analyze", spy)
    items = [
        IndexItem(path=str(face_clip), label=REAL),
        IndexItem(path="fake.mp4", label=FAKE),  # fakes are never re-encoded
    ]
    settings = CODEC_CHECK_SETTINGS[::3]
    result = codec_check(items, "/", analyzer, limit=5, settings=settings, seconds=1.0)
    assert [c["path"] for c in result["clips"]] == [str(face_clip)]
    clip = result["clips"][0]
    assert set(clip["versions"]) == {s.name for s in settings}
    assert all(v is not None and 0 <= v <= 1 for v in clip["versions"].values())
    shifts = [abs(v - clip["original"]) for v in clip["versions"].values()]
    assert clip["max_shift"] == pytest.approx(max(shifts))
    assert result["passed"] == (max(shifts) <= result["target"])
    # Each member's own score too: which scorer reads the codec.
    members = clip["members"]
    assert set(members["versions"]) == {s.name for s in settings}
    texture = [
        abs(v["texture"] - members["original"]["texture"]) for v in members["versions"].values()
    ]
    assert members["max_shift"]["texture"] == pytest.approx(max(texture))
    assert result["max_shift_by_member"]["texture"] == pytest.approx(max(texture))
    text = codec_markdown(result)
    assert "face.mp4" in text and "Largest shift" in text
    assert "Largest shift of each member's own score" in text and "| texture" in text
    assert snaps == [(0.0, 1)] * (1 + len(settings))
    comparable = same_frames_and_faces(analyzer)
    assert (comparable.settings.sample_snap, comparable.settings.full_detect_every) == (0.0, 1)
    exact = Analyzer(
        AnalysisSettings(frames=4, sample_snap=0.0, full_detect_every=1),
        classifier=analyzer.classifier,
    )
    assert same_frames_and_faces(exact) is exact
