"""scripts/fold_reals.py: a fold's held-out real videos as an index, and codec checks summarised."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import fold_reals  # lives in scripts/, put on the path above


def _report(tmp_path: Path) -> Path:
    clips = [
        {
            "fold": "a",
            "path": ["v/r2.mp4", "v/r1.mp4", "v/r1.mp4", "p/orig_3.mp4", "p/fake_3.mp4"],
            "label": [0, 0, 0, 0, 1],
        },
        {"fold": "b", "path": ["v/r9.mp4", "v/f.mp4"], "label": [0, 1]},
    ]
    path = tmp_path / "logo.json"
    path.write_text(json.dumps({"clips": clips}))
    return path


def test_held_out_reals_of_one_fold_only(tmp_path: Path) -> None:
    report = json.loads(_report(tmp_path).read_text())
    assert fold_reals.held_out_reals(report, "a") == ["p/orig_3.mp4", "v/r1.mp4", "v/r2.mp4"]
    assert fold_reals.held_out_reals(report, "b") == ["v/r9.mp4"]
    with pytest.raises(SystemExit, match="folds: a, b"):
        fold_reals.held_out_reals(report, "c")


def test_choose_filters_then_takes_first_or_a_seeded_sample() -> None:
    paths = [f"v/r{i}.mp4" for i in range(10)] + ["p/orig.mp4"]
    assert fold_reals.choose(paths, ["orig"], [], None, None, 0) == ["p/orig.mp4"]
    assert fold_reals.choose(paths, [], ["p/"], 2, None, 0) == ["v/r0.mp4", "v/r1.mp4"]
    one = fold_reals.choose(paths, [], ["p/"], None, 4, seed=1)
    assert one == fold_reals.choose(paths, [], ["p/"], None, 4, seed=1) == sorted(one)
    assert len(one) == 4 and "p/orig.mp4" not in one
    assert one != fold_reals.choose(paths, [], ["p/"], None, 4, seed=2)
    assert len(fold_reals.choose(paths, [], [], None, 99, 0)) == len(paths)


def test_index_written_with_absolute_paths(tmp_path: Path) -> None:
    index = tmp_path / "train.jsonl"
    rows = [
        {"path": p, "label": 0, "kind": "video", "split": ""}
        for p in ("v/r1.mp4", "v/r2.mp4", "p/orig_3.mp4")
    ]
    index.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out" / "reals.jsonl"
    argv = [str(_report(tmp_path)), "--fold", "a", "--index", str(index)]
    argv += ["--root", str(tmp_path / "data"), "--exclude", "p/", "--out", str(out)]
    assert fold_reals.main(argv) == 0
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [Path(r["path"]).name for r in written] == ["r1.mp4", "r2.mp4"]
    assert all(Path(r["path"]).is_absolute() and r["label"] == 0 for r in written)
    index.write_text(json.dumps(rows[0]) + "\n")  # r2 is no longer in the index
    assert fold_reals.main(argv) == 2


def test_compare_summarises_shift_against_spread(tmp_path: Path, capsys) -> None:
    result = {
        "clips": [
            {"original": 0.2, "max_shift": 0.05},
            {"original": 0.6, "max_shift": 0.15},
            {"original": 0.5, "max_shift": None},  # every version failed: left out
        ],
        "per_setting": {"h264-crf32": {"mean_shift": 0.1}},
    }
    path = tmp_path / "codec_check.json"
    path.write_text(json.dumps(result))
    assert fold_reals.main(["--compare", str(path)]) == 0
    row = json.loads(capsys.readouterr().out)[str(path)]
    assert row["clips"] == 2 and row["max_shift"] == 0.15
    assert row["mean_clip_max_shift"] == pytest.approx(0.10)
    assert row["reference_sd"] == pytest.approx(0.2)
    assert row["mean_shift_over_sd"] == pytest.approx(0.5)
    assert row["mean_shift_by_setting"] == {"h264-crf32": 0.1}
