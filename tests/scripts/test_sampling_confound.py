"""scripts/sampling_confound.py: a LOGO report's scorers against reals sampled like the fakes."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from cache_factory import video_entry
from deepfake_detector.training.logo import FoldScores, logo_report, write_report

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import sampling_confound  # lives in scripts/, put on the path above

FRAMES = 8


def _clip(folder: Path, name: str, label: int, method: str, group: str, step: float) -> dict:
    file = f"crops/{name}.npz"
    np.savez_compressed(
        folder / file,
        crops=np.zeros((FRAMES, 8, 8, 3), np.uint8),
        landmarks=np.full((FRAMES, 5, 2), np.nan, np.float32),
        track=np.zeros(FRAMES, np.int16),
        time_s=np.arange(FRAMES, dtype=np.float32) * step,
    )
    return video_entry(f"{name}.mp4", label, method, group, file, FRAMES)


def test_sampling_interval() -> None:
    assert sampling_confound.sampling_interval(np.array([0.0, 0.4, 0.4, 0.8, 1.3])) == 0.4
    assert sampling_confound.sampling_interval(np.array([1.0, 1.0])) == 0.0


def test_logo_rows_split_the_reals_by_their_sampling_interval(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fakes sampled every 0.44 s, six reals every 0.2 s and two every 0.44 s: the interval
    alone ranks the fakes above the six (AUC 28 / 32), and only the two count as sampled like
    the fakes. The landmark logits here are the interval itself (ties: 0.5 on those two); the
    texture logits read the label."""
    cache = tmp_path / "cache"
    (cache / "crops").mkdir(parents=True)
    (cache / "cache.json").write_text(
        json.dumps({"format": 1, "spec": {"size": 8, "margin": 0.25, "align": True}})
    )
    rng = np.random.default_rng(0)
    lines, folds = [], []
    for name in ("gen_a", "gen_b", "gen_c"):
        clips = [(f"{name}_real{k}", 0, "real", 0.44 if k < 2 else 0.2) for k in range(8)]
        clips += [(f"{name}_fake{k}", 1, name, 0.44) for k in range(4)]
        lines += [_clip(cache, c, y, m, f"{c}-id", step) for c, y, m, step in clips]
        labels = np.array([y for _, y, _, _ in clips])
        steps = np.array([step for *_, step in clips])
        folds.append(
            FoldScores(
                name,
                [name],
                labels * 2.0 + rng.normal(0, 0.1, len(labels)),
                labels,
                ["" if y == 0 else name for y in labels],
                [f"{c}.mp4" for c, *_ in clips],
                ["video"] * len(labels),
                [f"{c}-id" for c, *_ in clips],
                (steps - 0.3) * 10,
            )
        )
    (cache / "entries.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    report = tmp_path / "logo.json"
    write_report(logo_report(folds), report)
    assert sampling_confound.main(["logo", str(report), "--cache", str(cache)]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    assert len(rows) == 3
    cells = [c.strip() for c in rows[0].split("|")[1:-1]]
    assert cells[:3] == ["gen_a", "8 (2)", "0.875"]
    assert cells[3] == "0.875 → 0.500"  # the landmarks read the interval: chance on alike reals
    assert cells[4] == "1.000 → 1.000"  # the texture reads the label
    # A report without landmark scores is refused with a message, not a traceback.
    texture_only = tmp_path / "texture.json"
    write_report(logo_report([replace(f, landmark_logits=None) for f in folds]), texture_only)
    assert sampling_confound.main(["logo", str(texture_only), "--cache", str(cache)]) == 2
    assert "no landmark scores" in capsys.readouterr().err


def test_fixed_rate_cache_resamples_the_videos_and_keeps_the_stills(
    panning_video: Path, tmp_path: Path
) -> None:
    """The second cache holds the first one's videos sampled at the given rate and its stills
    as they were (same records, same crops), so a split drawn from either is the same."""
    from deepfake_detector.config import AnalysisSettings
    from deepfake_detector.faces import CropSpec
    from deepfake_detector.training.crop_cache import CropCache, extract_to_cache
    from deepfake_detector.training.index import IndexItem, write_index
    from photo_factory import write_photo

    photo = write_photo(tmp_path / "still.jpg")
    items = [IndexItem(str(panning_video), 0, group="a"), IndexItem(str(photo), 0, group="b")]
    index = tmp_path / "index.jsonl"
    write_index(items, index)
    base, out = tmp_path / "base", tmp_path / "fixed"
    spec = CropSpec(size=64, margin=0.25, align=True)
    settings = AnalysisSettings(frames=4)
    extract_to_cache(items, tmp_path, base, spec=spec, settings=settings, progress=False)
    for _ in range(2):  # resumable: a second run adds nothing
        sampling_confound.build_fixed_rate_cache(base, index, tmp_path, out, 2.0, 1)
    before = {e.path: e for e in CropCache(base).entries()}
    after = {e.path: e for e in CropCache(out).entries()}
    assert set(after) == set(before) and len((out / "entries.jsonl").read_text().splitlines()) == 2
    video, still = after[str(panning_video)], after[str(photo)]
    with np.load(out / video.file) as z:
        assert sampling_confound.sampling_interval(z["time_s"]) == pytest.approx(0.5, abs=0.02)
        assert len(z["time_s"]) > before[str(panning_video)].crops  # 4 s at 2 a second, not 4
    assert still == before[str(photo)]
    assert (out / still.file).read_bytes() == (base / still.file).read_bytes()


def test_serve_rows_for_a_model_without_a_member(panning_video: Path, tmp_path: Path) -> None:
    """The default model has no landmark member: ``serve`` reports its texture logit at the
    service's frames against 24, with no member columns."""
    index = tmp_path / "index.jsonl"
    index.write_text(json.dumps({"path": str(panning_video)}) + "\n")
    lines = sampling_confound.serve_rows(index, None, None, "default")  # type: ignore[arg-type]
    assert lines[0] == "| clip | texture: served (32 frames) | texture: 24 frames |"
    assert lines[2].startswith(f"| {panning_video.name} | ")
    assert lines[-1].startswith("Texture logit at 32 frames minus at 24: median ")
    assert not any(line.startswith("Member logit") for line in lines)
