"""Whether ending runs of decoding by draining the decoder gives the very samples decoding on
gives, on real videos: every video under the folders, sampled twice (``decode_samples`` with
``drain=False`` and ``drain=True``), compared frame by frame, pixel for pixel.

    PYTHONPATH=src .venv/bin/python scripts/check_drain.py ../shared/data/train_real \\
        ../shared/data/train_fake --snap 0.25 --out /tmp/drain.json

Prints one line per video that differs or fails, then a JSON summary (videos compared,
identical, differing, unreadable; packets sent to the decoder and CPU-seconds, both ways).
Exit status 1 if any video differs. ``--device cuda`` decodes on the GPU (NVDEC), to check the
same there.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from deepfake_detector.cli import expand_inputs
from deepfake_detector.errors import MediaError
from deepfake_detector.media import probe, sample_times
from deepfake_detector.media.decoder import DecodeStats, decode_samples
from deepfake_detector.media.formats import VIDEO_SUFFIXES
from deepfake_detector.media.sampling import sample_spacing


def videos_under(folders: list[str]) -> list[Path]:
    """Every video under ``folders`` (the CLI's expansion, photos left out)."""
    return [p for p in expand_inputs(folders) if p.suffix.lower() in VIDEO_SUFFIXES]


def compare(path: Path, frames: int, snap: float, device: str) -> dict[str, object]:
    """Sample ``path`` both ways; what differs, and what each way cost."""
    info = probe(str(path))
    times = sample_times(info, count=frames)
    tolerance_s = snap * sample_spacing(info, times)
    runs = {}
    for drain in (False, True):
        stats = DecodeStats()
        start = time.process_time()
        samples = list(
            decode_samples(
                str(path), info, times, tolerance_s=tolerance_s, drain=drain, stats=stats,
                device=device,
            )
        )  # fmt: skip
        runs[drain] = (samples, stats, time.process_time() - start)
    (before, stats_before, cpu_before), (after, stats_after, cpu_after) = runs[False], runs[True]
    same = [(s.sample_index, s.time_s) for s in before] == [
        (s.sample_index, s.time_s) for s in after
    ]
    same = same and all(
        np.array_equal(a.image, b.image) for a, b in zip(before, after, strict=True)
    )
    return {
        "path": str(path),
        "identical": same,
        "samples": len(after),
        "drained_runs": stats_after.drained_runs,
        "packets_sent": [stats_before.sent_packets, stats_after.sent_packets],
        "cpu_s": [round(cpu_before, 3), round(cpu_after, 3)],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", help="folders (or files) of videos")
    parser.add_argument("--frames", type=int, default=32, help="samples per video (32)")
    parser.add_argument("--snap", type=float, default=0.25, help="DFD_SAMPLE_SNAP (0.25)")
    parser.add_argument("--device", default="cpu", help="where to decode: cpu, cuda (cpu)")
    parser.add_argument("--out", type=Path, help="also write every video's row here (JSON)")
    args = parser.parse_args(argv)

    rows, unreadable = [], []
    for path in videos_under(args.folders):
        try:
            row = compare(path, args.frames, args.snap, args.device)
        except MediaError as exc:
            unreadable.append(str(path))
            print(f"unreadable: {path}: {exc}", file=sys.stderr)
            continue
        rows.append(row)
        if not row["identical"]:
            print(f"DIFFERS: {path}", file=sys.stderr)
    differing = [r["path"] for r in rows if not r["identical"]]
    summary = {
        "frames": args.frames,
        "snap": args.snap,
        "device": args.device,
        "videos": len(rows),
        "identical": len(rows) - len(differing),
        "differing": differing,
        "unreadable": unreadable,
        "runs_drained": sum(int(r["drained_runs"]) for r in rows),  # type: ignore[call-overload]
        "packets_sent": [sum(r["packets_sent"][k] for r in rows) for k in (0, 1)],  # type: ignore[index]
        "cpu_s": [round(sum(r["cpu_s"][k] for r in rows), 2) for k in (0, 1)],  # type: ignore[index]
    }
    if args.out:
        args.out.write_text(json.dumps({"summary": summary, "videos": rows}, indent=1))
    print(json.dumps(summary, indent=2))
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
