"""scripts/sample_digests.py: the product's samples of each video as digests, and two sets of
digests (two versions of the code, or the decoder's options) compared."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import sample_digests  # lives in scripts/, put on the path above

import video_factory


def test_digests_follow_the_samples_and_compare(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    video_factory.indexed_video(folder / "a.mp4", 100, options={"g": "12"})
    video_factory.indexed_video(folder / "b.mp4", 60, options={"g": "12"})
    (folder / "broken.mp4").write_bytes(b"not a video")
    first, again, fewer = (tmp_path / f"{n}.json" for n in ("first", "again", "fewer"))
    assert sample_digests.main([str(folder), "--frames", "8", "--out", str(first)]) == 0
    assert sample_digests.main([str(folder), "--frames", "8", "--out", str(again)]) == 0
    assert sample_digests.main([str(folder), "--frames", "6", "--out", str(fewer)]) == 0
    found = json.loads(first.read_text())["digests"]
    assert found[str(folder / "broken.mp4")].startswith("error:")
    assert found[str(folder / "a.mp4")] != found[str(folder / "b.mp4")]
    capsys.readouterr()

    assert sample_digests.main(["--compare", str(first), str(again)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary == {"videos": 3, "identical": 3, "differing": [], "only_in_one": []}

    assert sample_digests.main(["--compare", str(first), str(fewer)]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["identical"] == 1  # the broken file, refused the same way
    assert sorted(Path(p).name for p in summary["differing"]) == ["a.mp4", "b.mp4"]


def test_draining_or_not_gives_the_same_digests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The check the README and ``gpu_check.sh`` run: the decoder drained at the end of a run
    and not, on B-frame clips in two containers (a folder with a photo in it too)."""
    folder = tmp_path / "videos"
    folder.mkdir()
    bframes = {"preset": "veryfast", "bf": "3", "g": "12", "crf": "18"}
    video_factory.indexed_video(folder / "a.mp4", 100, options=bframes)
    video_factory.indexed_video(folder / "b.mkv", 60, options=bframes)
    (folder / "notes.txt").write_text("not a video")
    drained, undrained = tmp_path / "on.json", tmp_path / "off.json"
    for flag, out in (("on", drained), ("off", undrained)):
        args = [str(folder), "--frames", "8", "--drain", flag, "--out", str(out)]
        assert sample_digests.main(args) == 0
    assert json.loads(undrained.read_text())["drain"] is False
    capsys.readouterr()
    assert sample_digests.main(["--compare", str(undrained), str(drained)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary == {"videos": 2, "identical": 2, "differing": [], "only_in_one": []}
