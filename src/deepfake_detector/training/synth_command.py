"""``deepfake-detector synth-examples``: a picture of self-blended training fakes.

It shows what the self-blending synthesiser (:mod:`deepfake_detector.training.selfblend`) makes
of real faces, so a person can judge its settings before a training run: one column per
example, rows real crop | self-blended fake | blend mask | ``|fake - real|`` amplified.

The lead's ``cli.py`` wires it in with ``add_synth_parser(subparsers)``; the module also runs
alone: ``python -m deepfake_detector.training.synth_command --out grid.png``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from deepfake_detector.errors import DetectorError
from deepfake_detector.media.formats import is_image_path

log = logging.getLogger("deepfake_detector.training")

EXIT_OK, EXIT_NO_FACE = 0, 2
DIFF_GAIN = 4.0
"""``|fake - real|`` is multiplied by this in the grid's last row, so faint blends show."""


class SynthError(Exception):
    """An input that cannot be used (unreadable, no face), reported with exit status 2."""


def add_synth_parser(subparsers: Any) -> None:
    """Add the ``synth-examples`` subcommand (sets ``handler``)."""
    p = subparsers.add_parser(
        "synth-examples",
        help="write a PNG grid of self-blended training fakes made from real faces",
        description="Detect faces in images or videos, make self-blended fakes of them and write "
        "a grid: rows real | fake | mask | |fake-real| amplified, one column per example. "
        "Without inputs, scikit-image's astronaut portrait is used.",
    )
    p.add_argument("inputs", nargs="*", metavar="IMAGE_OR_VIDEO", help="images or videos")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--count", type=_positive_int, default=8, help="examples (columns), default 8")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--size", type=_positive_int, default=224, help="crop side in pixels")
    p.add_argument("--detector", default="mtcnn", help="face detector name (default mtcnn)")
    p.set_defaults(handler=synth_examples)


def synth_examples(args: argparse.Namespace) -> int:
    """Handler of ``synth-examples``: 0 when the grid was written, 2 with a message otherwise."""
    from deepfake_detector.faces import CropSpec, create_detector, crop_face, crop_matrix
    from deepfake_detector.training.selfblend import SelfBlender

    try:
        images = list(_load_images(args.inputs, args.count))
        detector = create_detector(args.detector)
    except (SynthError, DetectorError, ValueError) as exc:
        print(f"deepfake-detector synth-examples: {exc}", file=sys.stderr)
        return EXIT_NO_FACE

    spec = CropSpec(size=args.size, margin=0.25, align=True)
    faces: list[tuple[np.ndarray, np.ndarray | None]] = []
    for name, image in images:
        found = detector.detect(image)
        if not found:
            log.info("no face in %s", name)
            continue
        best = max(found, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
        crop = crop_face(image, best, spec)
        landmarks = None
        if best.landmarks is not None:
            matrix = crop_matrix(best, spec)
            landmarks = np.asarray(best.landmarks, np.float64) @ matrix[:, :2].T + matrix[:, 2]
        faces.append((crop, landmarks))
    if not faces:
        print("deepfake-detector synth-examples: no face found in the inputs", file=sys.stderr)
        return EXIT_NO_FACE

    blender = SelfBlender()
    rng = np.random.default_rng(args.seed)
    columns = []
    for i in range(args.count):
        crop, landmarks = faces[i % len(faces)]
        fake, mask = blender(crop, landmarks, rng)
        columns.append(example_column(crop, fake, mask))
    grid = np.hstack(columns)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        print(f"deepfake-detector synth-examples: cannot write {out}", file=sys.stderr)
        return EXIT_NO_FACE
    print(f"wrote {out} ({args.count} examples from {len(faces)} face(s))")
    return EXIT_OK


def example_column(real: np.ndarray, fake: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """One grid column, RGB ``uint8 (4 S, S, 3)``: real, fake, mask, amplified difference."""
    mask_rgb = np.repeat(np.rint(mask * 255.0).astype(np.uint8)[..., None], 3, axis=2)
    diff = np.abs(fake.astype(np.int16) - real.astype(np.int16)).astype(np.float32)
    diff_rgb = np.clip(diff * DIFF_GAIN, 0, 255).astype(np.uint8)
    return np.vstack([real, fake, mask_rgb, diff_rgb])


def _load_images(inputs: list[str], frames_per_video: int) -> Iterator[tuple[str, np.ndarray]]:
    """RGB images from image files, evenly sampled frames from videos, or the astronaut."""
    if not inputs:
        try:
            import skimage.data
        except ImportError as exc:
            raise SynthError(
                "no inputs given and scikit-image is not installed for its sample portrait; "
                "pass images or videos"
            ) from exc
        yield "astronaut", skimage.data.astronaut()
        return
    for item in inputs:
        path = Path(item)
        if not path.is_file():
            raise SynthError(f"{path}: no such file")
        if is_image_path(path):
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                raise SynthError(f"{path}: not a readable image")
            yield str(path), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        else:
            yield from _video_frames(path, frames_per_video)


def _video_frames(path: Path, count: int) -> Iterator[tuple[str, np.ndarray]]:
    from deepfake_detector.errors import MediaError
    from deepfake_detector.media import iter_sampled_frames, probe, sample_times

    try:
        info = probe(str(path))
        for frame in iter_sampled_frames(str(path), info, sample_times(info, count=count)):
            yield f"{path}@{frame.time_s:.2f}s", frame.image
    except MediaError as exc:
        raise SynthError(f"{path}: {exc}") from exc


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    """Run ``synth-examples`` alone: ``python -m deepfake_detector.training.synth_command``."""
    parser = argparse.ArgumentParser(prog="deepfake-detector")
    sub = parser.add_subparsers(dest="command", required=True)
    add_synth_parser(sub)
    args = parser.parse_args(["synth-examples", *(sys.argv[1:] if argv is None else argv)])
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
