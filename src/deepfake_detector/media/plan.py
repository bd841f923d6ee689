"""Decide how to reach a set of target frames: decode on, or seek to a later keyframe.

Cost model, in frames decoded: a frame can only be decoded after every frame since the keyframe
before it, so reaching a target costs the frames from wherever the decoder stands (or from the
target's keyframe, after a seek) up to the target, plus one more frame (the only way to know a
frame is the last one shown at or before the target is to see the next one; at the end of a run
that a seek follows the decoder reads ahead and is drained instead, see
``decoder._Runner._decode``, so there the estimate is an upper bound). A seek costs
``seek_cost`` frames on top: flushing the decoder, refilling frame threads, and an intra frame
that is slower to decode than the others (measured by ``benchmarks/bench_decode.py``).

Walking the targets in time order, the only choice is at each new GOP (group of pictures): decode
on through the frames before its keyframe, or seek to it. The choices are independent (either
way the decoder then stands at the same keyframe), so choosing the cheaper one each time gives the
cheapest plan overall. Targets sharing a GOP are always served by one forward decode, and
straight-through decoding is just the plan that never seeks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from deepfake_detector.media.timeline import Timeline

Strategy = Literal["auto", "straight", "seek"]
"""``auto``: cheapest by the cost model; ``straight``: never seek; ``seek``: seek to every new GOP
that has a target (for measurements)."""

# Measured on the 2-core dev machine (bench_decode.py "seek_cost", 1080p H.264): one more frame
# costs 1.0-1.2 ms, a seek plus its keyframe 4.1-4.3 ms with slice threading (PyAV's default),
# i.e. 2.7-2.9 frames more; with frame threading (which must refill its pipeline) 5.0-6.2.
SEEK_COST_FRAMES = 3
SEEK_COST_FRAMES_FRAME_THREADS = 5


@dataclass(frozen=True)
class Target:
    """One requested sample: the latest frame with pts <= ``pts`` is wanted."""

    pts: int
    sample_index: int


@dataclass
class Run:
    """One forward decode: optionally seek first (to ``seek_pts``, backwards to a keyframe), then
    decode until every target in it is served."""

    seek_pts: int | None
    """Where to seek (the first target); ``None``: decode on from where the decoder stands."""
    key_pts: int | None = None
    """(Estimated) pts of the keyframe the seek lands on; where reading without decoding stops
    for containers that cannot seek exactly."""
    targets: list[Target] = field(default_factory=list)


@dataclass(frozen=True)
class Plan:
    runs: list[Run]
    frames: int
    """Estimated frames the plan decodes."""

    @property
    def seeks(self) -> int:
        return sum(1 for r in self.runs if r.seek_pts is not None)


def plan_runs(
    targets: list[Target],
    timeline: Timeline,
    start_pts: int,
    strategy: Strategy = "auto",
    seek_cost: float = SEEK_COST_FRAMES,
) -> Plan:
    """Group ``targets`` (sorted by pts) into runs of forward decoding; see the module docstring."""
    runs: list[Run] = []
    frames = 0
    pos = start_pts - 1  # pts of the last frame the decoder will have produced
    for target in targets:
        key = timeline.keyframe_at_or_before(target.pts)
        if runs and (key is None or key <= pos):
            # Same GOP as the current run (or keyframes unknown): decode on.
            frames += timeline.frames_between(pos, target.pts)
            runs[-1].targets.append(target)
        else:
            gap = timeline.frames_between(pos, key - 1) if key is not None else 0
            first = not runs
            if key is None or strategy == "straight" or (strategy == "auto" and gap <= seek_cost):
                if first:
                    runs.append(Run(seek_pts=None))
                frames += timeline.frames_between(pos, target.pts) + (1 if first else 0)
            else:
                runs.append(Run(seek_pts=target.pts, key_pts=key))
                frames += timeline.frames_between(key, target.pts) + 2
            runs[-1].targets.append(target)
        pos = max(pos, target.pts)
    return Plan(runs=runs, frames=frames)


def relax_targets(targets: list[Target], timeline: Timeline, tolerance: int) -> list[Target]:
    """Move each target by at most ``tolerance`` ticks to the frame cheapest to reach.

    That is the nearest keyframe within reach (decoding it needs no other frame), else the
    earliest time within reach (fewest frames after the GOP's keyframe). For callers that want
    frames *near* evenly spaced times rather than *at* them; keep ``tolerance`` under half the
    spacing of the targets so that they stay distinct. Returned sorted by pts.
    """
    moved = []
    for target in targets:
        lo, hi = target.pts - tolerance, target.pts + tolerance
        before = timeline.keyframe_at_or_before(target.pts)
        after = timeline.keyframe_at_or_before(hi)
        keys = [k for k in (before, after) if k is not None and lo <= k <= hi]
        if keys:
            pts = min(keys, key=lambda k: abs(k - target.pts))
        elif before is not None:
            pts = lo
        else:
            pts = target.pts  # keyframes unknown: nothing is cheaper
        moved.append(Target(pts, target.sample_index))
    return sorted(moved, key=lambda t: (t.pts, t.sample_index))
