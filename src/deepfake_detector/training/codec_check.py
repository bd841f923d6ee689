"""Codec invariance: the same real clip re-encoded as H.264, HEVC, VP9 and AV1 (two qualities
each) must keep its score. A model that reads codec traces instead of faces fails this at once
(the seed default scored one real clip 0.69 as H.264, 0.96 as HEVC and 0.13 as AV1).

Each clip's first seconds are analysed as a lossless re-encode (the reference) and in every
``CODEC_CHECK_SETTINGS`` version, through the same ``Analyzer`` as every other evaluation; the
report gives each version's score, its shift from the reference, and the largest shift per clip
and per setting.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from deepfake_detector.training.index import REAL, IndexItem
from deepfake_detector.training.reencode import CODEC_CHECK_SETTINGS, CodecSetting, transcode_video

REFERENCE = CodecSetting("reference", "libx264", "matroska", (("qp", "0"), ("preset", "ultrafast")))
"""Lossless H.264 (QP 0) of the first seconds: what every version is compared with."""

MAX_SHIFT = 0.15
"""The target: no version moves a clip's score by more than this."""


def same_frames_and_faces(analyzer: Any) -> Any:
    """``analyzer`` sampling the exact frames (``sample_snap`` 0) and searching each of them
    whole for faces (``full_detect_every`` 1), sharing its loaded model and detector, so that
    versions differ in codec only. Each encoder puts its keyframes elsewhere, so snapped samples
    would compare other frames; and with guided searches a re-encode changes which samples are
    searched whole, which moved `dfdc__lynaeydofd`'s landmark score by 0.165 against 0.110
    (docs/speed.md has both checks)."""
    settings = getattr(analyzer, "settings", None)
    if settings is None or settings.is_frame_exact:
        return analyzer
    from deepfake_detector.analysis.pipeline import Analyzer

    return Analyzer(
        settings.frame_exact(),
        classifier=analyzer.classifier,
        detector=analyzer.detector,
        members=analyzer.landmarks is not None,
    )


def codec_check(
    items: Sequence[IndexItem],
    root: str | Path,
    analyzer: Any,
    limit: int,
    settings: Sequence[CodecSetting] = CODEC_CHECK_SETTINGS,
    seconds: float = 10.0,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, Any]:
    """Re-encode the first ``limit`` real videos of ``items`` (sorted by path) and score every
    version; re-encoded files live in a temporary folder that is removed afterwards."""
    reals = sorted(
        (it for it in items if it.label == REAL and it.kind == "video"), key=lambda i: i.path
    )
    reals = reals[:limit]
    analyzer = same_frames_and_faces(analyzer)
    clips = []
    total = len(reals) * (1 + len(settings))
    done = 0
    with tempfile.TemporaryDirectory(prefix="dfd-codec-") as tmp:
        for n, item in enumerate(reals):
            source = Path(item.path) if Path(item.path).is_absolute() else Path(root) / item.path
            # The reference is the same first ``seconds`` in a near-lossless re-encode, so every
            # version is sampled at the same moments as the reference and differs only in codec.
            reference = Path(tmp) / f"{n}-reference.mkv"
            transcode_video(source, reference, REFERENCE, max_seconds=seconds)
            original, original_members = _scores(analyzer.analyze(reference))
            reference.unlink(missing_ok=True)
            done += 1
            if progress:
                progress(done, total, item.path)
            versions: dict[str, float | None] = {}
            member_versions: dict[str, dict[str, float | None]] = {}
            for setting in settings:
                target = Path(tmp) / f"{n}-{setting.name}.{setting.container}"
                try:
                    transcode_video(source, target, setting, max_seconds=seconds)
                    versions[setting.name], member_versions[setting.name] = _scores(
                        analyzer.analyze(target)
                    )
                except Exception:  # an encoder that fails on one clip must not end the check
                    versions[setting.name] = None
                target.unlink(missing_ok=True)
                done += 1
                if progress:
                    progress(done, total, f"{item.path} ({setting.name})")
            shifts = {
                k: abs(v - original)
                for k, v in versions.items()
                if v is not None and original is not None
            }
            clips.append(
                {
                    "path": item.path,
                    "original": original,
                    "versions": versions,
                    "max_shift": max(shifts.values()) if shifts else None,
                    "members": {
                        "original": original_members,
                        "versions": member_versions,
                        "max_shift": _member_shifts(original_members, member_versions),
                    },
                }
            )
    per_setting = {}
    for setting in settings:
        shifts = [
            abs(c["versions"][setting.name] - c["original"])
            for c in clips
            if c["versions"].get(setting.name) is not None and c["original"] is not None
        ]
        per_setting[setting.name] = {
            "n": len(shifts),
            "mean_shift": sum(shifts) / len(shifts) if shifts else None,
            "max_shift": max(shifts) if shifts else None,
        }
    worst = [c["max_shift"] for c in clips if c["max_shift"] is not None]
    by_member: dict[str, float] = {}
    for c in clips:
        for member, shift in c["members"]["max_shift"].items():
            by_member[member] = max(by_member.get(member, 0.0), shift)
    return {
        "clips": clips,
        "per_setting": per_setting,
        "max_shift": max(worst) if worst else None,
        "max_shift_by_member": by_member,
        "target": MAX_SHIFT,
        "passed": bool(worst) and max(worst) <= MAX_SHIFT,
        "seconds": seconds,
    }


def _scores(result: Any) -> tuple[float | None, dict[str, float | None]]:
    """A result's fake probability and, for the person who set it (the most suspicious), each
    member's score (``texture``, ``landmarks``; empty for a single model or no face)."""
    faces = list(getattr(result, "faces", None) or [])
    if not faces:
        return result.fake_probability, {}
    top = max(faces, key=lambda face: face.fake_probability)
    return result.fake_probability, dict(getattr(top, "members", None) or {})


def _member_shifts(
    original: dict[str, float | None], versions: dict[str, dict[str, float | None]]
) -> dict[str, float]:
    """Each member's largest shift from its reference score over the versions: which of the
    scorers reads the codec."""
    shifts: dict[str, float] = {}
    for scores in versions.values():
        for member, value in scores.items():
            reference = original.get(member)
            if value is not None and reference is not None:
                shifts[member] = max(shifts.get(member, 0.0), abs(value - reference))
    return shifts


def _f(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def codec_markdown(result: dict[str, Any]) -> str:
    names = list(result["per_setting"])
    lines = [
        "| clip | reference (lossless) | " + " | ".join(names) + " | largest shift |",
        "|---|---|" + "---|" * len(names) + "---|",
    ]
    for c in result["clips"]:
        cells = " | ".join(_f(c["versions"].get(n)) for n in names)
        lines.append(
            f"| {Path(c['path']).name} | {_f(c['original'])} | {cells} | {_f(c['max_shift'])} |"
        )
    lines.append(
        f"\nLargest shift of any clip: **{_f(result['max_shift'])}** "
        f"(target ≤ {result['target']}: {'met' if result['passed'] else 'not met'}); "
        f"first {result['seconds']:.0f} s of each clip."
    )
    members = sorted({m for c in result["clips"] for m in c["members"]["max_shift"]})
    if members:
        lines += [
            "\nLargest shift of each member's own score (the person who set the clip's score):\n",
            "| clip | " + " | ".join(members) + " |",
            "|---|" + "---|" * len(members),
        ]
        for c in result["clips"]:
            shifts = c["members"]["max_shift"]
            cells = " | ".join(_f(shifts.get(m)) for m in members)
            lines.append(f"| {Path(c['path']).name} | {cells} |")
    return "\n".join(lines) + "\n"
