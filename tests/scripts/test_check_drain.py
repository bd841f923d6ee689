"""scripts/check_drain.py: real videos sampled with and without draining, compared pixel for
pixel; the exit status says whether any differs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import check_drain  # lives in scripts/, put on the path above

import video_factory


def test_videos_are_compared_and_found_identical(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    bframes = {"preset": "veryfast", "bf": "3", "g": "12", "crf": "18"}
    video_factory.indexed_video(folder / "a.mp4", 100, options=bframes)
    video_factory.indexed_video(folder / "b.mkv", 60, options=bframes)
    (folder / "notes.txt").write_text("not a video")
    out = tmp_path / "rows.json"
    assert check_drain.main([str(folder), "--frames", "8", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["videos"] == 2 and summary["identical"] == 2 and summary["differing"] == []
    assert summary["runs_drained"] > 0
    before, after = summary["packets_sent"]
    assert after < before
    rows = json.loads(out.read_text())["videos"]
    assert [Path(r["path"]).name for r in rows] == ["a.mp4", "b.mkv"]


def test_a_difference_fails_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    video_factory.indexed_video(tmp_path / "a.mp4", 100, options={"g": "12"})
    real = check_drain.decode_samples

    def lose_the_last_sample(*args: object, drain: bool, **kwargs: object) -> object:
        samples = list(real(*args, drain=drain, **kwargs))  # type: ignore[arg-type]
        return samples[:-1] if drain else samples

    monkeypatch.setattr(check_drain, "decode_samples", lose_the_last_sample)
    assert check_drain.main([str(tmp_path), "--frames", "8"]) == 1
    assert "DIFFERS" in capsys.readouterr().err
