"""The samples the product takes from each video, as digests, so that two ways of decoding can
be compared on real videos, pixel for pixel: two versions of the code (``PYTHONPATH`` pointing
at each one's ``src``), or the decoder's options (``--drain off``) against the default. Write a
file for each, then compare the two files.

    PYTHONPATH=src .venv/bin/python scripts/sample_digests.py ../shared/data/train_real \\
        ../shared/data/train_fake --out /tmp/new.json
    PYTHONPATH=src .venv/bin/python scripts/sample_digests.py ../shared/data/train_real \\
        ../shared/data/train_fake --drain off --out /tmp/undrained.json
    git worktree add /tmp/old REV && PYTHONPATH=/tmp/old/src .venv/bin/python \\
        scripts/sample_digests.py ../shared/data/train_real ../shared/data/train_fake \\
        --out /tmp/old.json
    python scripts/sample_digests.py --compare /tmp/old.json /tmp/new.json

Each video is sampled as the product samples it (``iter_sampled_frames`` with the default
frames and ``DFD_SAMPLE_SNAP`` unless given, the decoder's own defaults for everything
``--drain`` does not set); its digest is
the sha256 of every sample's index, time and pixels. ``--device cuda`` decodes with NVDEC.
``--compare`` prints the videos whose digests differ (exit status 1 if any) and a JSON summary.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from deepfake_detector.cli import expand_inputs
from deepfake_detector.config import AnalysisSettings
from deepfake_detector.errors import MediaError
from deepfake_detector.media import probe, sample_times
from deepfake_detector.media.formats import VIDEO_SUFFIXES
from deepfake_detector.media.sampling import iter_sampled_frames


def digest(path: Path, frames: int, snap: float, device: str, options: dict[str, bool]) -> str:
    """sha256 of the samples of ``path`` (index, time and pixels of each, in order)."""
    info = probe(str(path))
    times = sample_times(info, count=frames)
    samples = iter_sampled_frames(str(path), info, times, snap=snap, device=device, **options)
    h = hashlib.sha256()
    for sample in samples:
        h.update(f"{sample.sample_index}:{sample.time_s:.6f}:{sample.image.shape}".encode())
        h.update(sample.image.tobytes())
    return h.hexdigest()


def digests(
    folders: list[str], frames: int, snap: float, device: str, options: dict[str, bool]
) -> dict[str, str]:
    """Every video under ``folders`` (the CLI's expansion) with its digest, or its error."""
    out = {}
    for path in expand_inputs(folders):
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            continue
        try:
            out[str(path)] = digest(path, frames, snap, device, options)
        except MediaError as exc:
            out[str(path)] = f"error: {exc}"
    return out


def compare(before: dict[str, str], after: dict[str, str]) -> dict[str, object]:
    common = sorted(before.keys() & after.keys())
    return {
        "videos": len(common),
        "identical": sum(before[p] == after[p] for p in common),
        "differing": [p for p in common if before[p] != after[p]],
        "only_in_one": sorted(before.keys() ^ after.keys()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", help="folders (or files) of videos")
    defaults = AnalysisSettings()
    parser.add_argument(
        "--frames", type=int, default=defaults.frames, help="samples per video (the default's)"
    )
    parser.add_argument(
        "--snap", type=float, default=defaults.sample_snap, help="DFD_SAMPLE_SNAP (the default's)"
    )
    parser.add_argument("--device", default="cpu", help="where to decode: cpu, cuda (cpu)")
    parser.add_argument(
        "--drain",
        choices=("on", "off"),
        help="end runs of decoding by draining the decoder or not (default: the decoder's own; "
        "leave it out for code from before 2026-12-04, which has no such option)",
    )
    parser.add_argument("--out", type=Path, help="write the digests here (JSON)")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args(argv)
    if args.compare:
        before, after = (json.loads(p.read_text())["digests"] for p in args.compare)
        summary = compare(before, after)
        for path in summary["differing"]:  # type: ignore[attr-defined]
            print(f"DIFFERS: {path}", file=sys.stderr)
        print(json.dumps(summary, indent=2))
        return 1 if summary["differing"] or summary["only_in_one"] else 0
    if not args.folders or not args.out:
        parser.error("give folders and --out, or --compare BEFORE AFTER")
    options = {} if args.drain is None else {"drain": args.drain == "on"}
    found = digests(args.folders, args.frames, args.snap, args.device, options)
    settings = {"frames": args.frames, "snap": args.snap, "device": args.device, **options}
    args.out.write_text(json.dumps({**settings, "digests": found}, indent=1))
    print(f"{len(found)} videos, {sum(v.startswith('error') for v in found.values())} unreadable")
    return 0


if __name__ == "__main__":
    sys.exit(main())
