"""Run a deepfake-detector command with the sample grid shifted: the noise floor of sampling.

Each of a video's N samples is the centre of one of N equal segments (phase 0.5). With
``--phase P`` each is taken P of the way through its segment instead: as many frames, decoded
exactly, only other ones. Two phases score the same videos from equally valid looks, so the
change between them is how much a score depends on which frames happen to be sampled. A sampling
shortcut (``DFD_SAMPLE_SNAP``, a faster detector) is only worse than exact sampling where it moves
the scores further than that.

    export DFD_SAMPLE_SNAP=0    # frame-exact: the grid, not keyframes, decides the frames
    deepfake-detector evaluate --data D --split S --out /tmp/p50 -q
    python scripts/sample_grid_shift.py --phase 0.25 evaluate --data D --split S --out /tmp/p25 -q
    python scripts/score_shift.py /tmp/p50/report.json /tmp/p25/report.json

The shift applies to videos only (a photo is one frame) and is made by wrapping the video
source's ``sample_times`` in this process, so everything else is the command as it ships.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from deepfake_detector.media import sampling, sources
from deepfake_detector.media.probe import VideoInfo


def shifted(phase: float) -> Callable[..., list[float]]:
    """``sample_times`` with each time moved from its segment's centre to ``phase`` of the way
    through the segment, kept inside the video."""
    if not 0.0 <= phase < 1.0:
        raise ValueError(f"phase must be in [0, 1), not {phase}")
    original = sampling.sample_times

    def sample_times(info: VideoInfo, *args: object, **kwargs: object) -> list[float]:
        times = original(info, *args, **kwargs)
        offset = (phase - 0.5) * sampling.sample_spacing(info, times)
        end = max(0.0, info.duration_s)
        return [min(max(t + offset, 0.0), end) for t in times]

    return sample_times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", type=float, required=True, help="0 (segment start) to <1")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="deepfake-detector arguments")
    args = parser.parse_args(argv)
    if not args.command:
        parser.error("give the deepfake-detector command to run, e.g. evaluate --data D ...")
    try:
        sources.sample_times = shifted(args.phase)
    except ValueError as e:
        parser.error(str(e))
    from deepfake_detector.cli import main as cli_main

    return cli_main(args.command)


if __name__ == "__main__":
    sys.exit(main())
