"""scripts/score_shift.py: two evaluations of the same videos compared, with the signed change
per class that shows a systematic shift."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import score_shift  # lives in scripts/, put on the path above


def _report(path: Path, scores: dict[str, float], auc: float) -> Path:
    items = [
        {"path": p, "kind": "video", "label": int(p.startswith("f")), "score": s, "scored": True}
        for p, s in scores.items()
    ]
    items.append({"path": "img.png", "kind": "image", "label": 0, "score": 0.9, "scored": True})
    metrics = {"video": {"n": len(scores), "auc": auc, "log_loss": 0.5}}
    path.write_text(json.dumps({"items": items, "metrics": metrics}))
    return path


def test_changes_per_video_and_per_class(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _report(tmp_path / "a.json", {"r1": 0.2, "r2": 0.4, "f1": 0.7, "f2": 0.6}, 1.0)
    after = _report(tmp_path / "b.json", {"r1": 0.3, "r2": 0.6, "f1": 0.7, "f2": 0.5}, 0.75)
    assert score_shift.main([str(before), str(after)]) == 0
    out = capsys.readouterr().out
    assert "AUC change -0.250" in out
    assert "mean 0.100, median 0.100, max 0.200; verdict flips at 0.5: 1" in out
    assert "mean signed change, reals (2): +0.150" in out
    assert "mean signed change, fakes (2): -0.050" in out


def test_nothing_in_common_is_an_error(tmp_path: Path) -> None:
    before = _report(tmp_path / "a.json", {"r1": 0.2}, 0.5)
    after = _report(tmp_path / "b.json", {"r9": 0.2}, 0.5)
    assert score_shift.main([str(before), str(after)]) == 2
