"""``deepfake-detector``: scan videos and photos from the command line; the other commands
(serve, worker, train, evaluate...) are registered here too.

Exit status of ``scan``: 0 when every input was analysed and none was judged FAKE or uncertain,
1 when any input was judged FAKE outside the model's uncertain band, 3 when none was but some
input's score fell inside that band, 2 when any input could not be analysed (2 wins over 1, and 1
over 3: the batch is incomplete, then the most severe verdict). One bad file never stops a batch.
"""

from __future__ import annotations

import argparse
import csv
import glob
import hashlib
import json
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from deepfake_detector import __version__
from deepfake_detector.analysis import AnalysisResult, Analyzer, Verdict
from deepfake_detector.config import AnalysisSettings, SettingsError, settings_from_env
from deepfake_detector.errors import DetectorError
from deepfake_detector.media.formats import is_image_path, is_media_path

EXIT_OK, EXIT_FAKE, EXIT_UNANALYSED, EXIT_UNCERTAIN = 0, 1, 2, 3
_SEVERITY = (EXIT_OK, EXIT_UNCERTAIN, EXIT_FAKE, EXIT_UNANALYSED)
"""Exit statuses from least to most severe: a batch exits with its most severe input's."""

_GLOB_CHARS = frozenset("*?[")
CSV_FIELDS = [
    "path",
    "verdict",
    "fake_probability",
    "band",
    "faces",
    "frames_analyzed",
    "duration_s",
    "model",
    "seconds",
    "error",
]


def expand_inputs(items: Iterable[str]) -> Iterator[Path]:
    """Files as given, folders searched recursively for videos and photos (by suffix, from
    :mod:`deepfake_detector.media.formats`), globs expanded.

    A path that names nothing is still yielded, so that it is reported as an error in order.
    """
    for item in items:
        path = Path(item)
        if _is_dir(path):
            yield from sorted(p for p in path.rglob("*") if p.is_file() and is_media_path(p))
        elif not _exists(path) and _GLOB_CHARS & set(item):
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                yield path
            for match in matches:
                yield from expand_inputs([match]) if Path(match).is_dir() else [Path(match)]
        else:
            yield path


def _is_dir(path: Path) -> bool:
    """``Path.is_dir`` without its OSError for names the OS refuses (ENAMETOOLONG): such a path
    is yielded as it is and reported as an error when it is opened."""
    try:
        return path.is_dir()
    except OSError:
        return False


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:
        return False


def _evidence_dir(root: Path, video: Path) -> Path:
    """One folder per input, unique even for equal file names in different folders."""
    digest = hashlib.sha256(str(video.resolve()).encode()).hexdigest()[:8]
    return root / f"{video.stem}-{digest}"


class _Output:
    """Writes each result in the chosen format as soon as it arrives (the table too: its column
    widths are fixed up front, the paths' from the list of inputs)."""

    def __init__(
        self,
        fmt: str,
        stream: TextIO,
        score_is_probability: bool = True,
        paths: Iterable[Path] = (),
    ) -> None:
        self.fmt, self.stream = fmt, stream
        self.score_title = "P(FAKE)" if score_is_probability else "FAKE SCORE"
        self._csv: csv.DictWriter[str] | None = None
        self._widths = _table_widths(self.score_title, [str(p) for p in paths])
        self._header_written = False

    def add(self, result: AnalysisResult) -> None:
        if self.fmt == "json":
            self.stream.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        elif self.fmt == "csv":
            if self._csv is None:
                self._csv = csv.DictWriter(self.stream, fieldnames=CSV_FIELDS)
                self._csv.writeheader()
            self._csv.writerow(_summary_row(result))
        else:
            if not self._header_written:
                self.stream.write(_table_header(self.score_title, self._widths))
                self._header_written = True
            self.stream.write(_table_line(_summary_row(result), self._widths))
        self.stream.flush()


def _summary_row(result: AnalysisResult) -> dict[str, str]:
    return summary_row(result.to_dict())


def summary_row(data: Mapping[str, Any]) -> dict[str, str]:
    """One CSV/table row from a result in its JSON form (``submit`` gets only that form)."""
    p = data.get("fake_probability")
    note = data.get("error") or data.get("reason") or ""
    video = data.get("video")
    return {
        "path": str(data["path"]),
        "verdict": str(data["verdict"]),
        "fake_probability": "" if p is None else f"{p:.4f}",
        "band": data.get("band") or "",
        "faces": str(len(data.get("faces") or [])),
        "frames_analyzed": str(data.get("frames_analyzed") or 0),
        "duration_s": ""
        if not video or video.get("kind") == "image"
        else f"{video['duration_s']:.2f}",
        "model": (data.get("model") or {}).get("name", ""),
        "seconds": f"{(data.get('timings') or {}).get('total', 0.0):.2f}",
        "error": note,
    }


def _shown_verdict(row: dict[str, str]) -> str:
    """The table's verdict: the band's word where the score is borderline, with the side."""
    if row["band"] == "UNCERTAIN":
        return f"UNCERTAIN (leans {row['verdict']})"
    return row["verdict"]


_TABLE_COLUMNS = (
    ("shown", "VERDICT"),
    ("fake_probability", None),  # titled P(FAKE) or FAKE SCORE
    ("faces", "FACES"),
    ("frames_analyzed", "FRAMES"),
    ("seconds", "SECONDS"),
    ("path", "PATH"),
    ("error", "NOTE"),
)
_WIDEST = {
    "shown": len("UNCERTAIN (leans FAKE)"),
    "fake_probability": len("0.0000"),
    "faces": 3,
    "frames_analyzed": 4,
    "seconds": len("9999.99"),
}


def _table_widths(score_title: str, paths: list[str]) -> dict[str, int]:
    """Column widths fixed before any row is known: each column's widest possible value (the
    paths' from the list of inputs), so that rows can be printed as they come."""
    widths = {key: len(title or score_title) for key, title in _TABLE_COLUMNS}
    for key, widest in _WIDEST.items():
        widths[key] = max(widths[key], widest)
    widths["path"] = max([len("PATH"), *(len(p) for p in paths)])
    return widths


def _table_header(score_title: str, widths: dict[str, int]) -> str:
    titles = {key: title or score_title for key, title in _TABLE_COLUMNS}
    return "  ".join(titles[k].ljust(widths[k]) for k, _ in _TABLE_COLUMNS).rstrip() + "\n"


def _table_line(row: dict[str, str], widths: dict[str, int]) -> str:
    values = row | {"shown": _shown_verdict(row)}
    return "  ".join(values[k].ljust(widths[k]) for k, _ in _TABLE_COLUMNS).rstrip() + "\n"


def _table(rows: list[dict[str, str]], score_title: str = "P(FAKE)") -> str:
    """A whole table at once (the rows' own widths)."""
    widths = _table_widths(score_title, [r["path"] for r in rows])
    return _table_header(score_title, widths) + "".join(_table_line(r, widths) for r in rows)


def exit_status(result: AnalysisResult) -> int:
    """What one input contributes to ``scan``'s exit status."""
    if result.verdict is Verdict.ERROR:
        return EXIT_UNANALYSED
    if result.band == "UNCERTAIN":
        return EXIT_UNCERTAIN
    return EXIT_FAKE if result.verdict is Verdict.FAKE else EXIT_OK


def _progress_bar(total: int, enabled: bool):  # type: ignore[no-untyped-def]
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit="file",
        file=sys.stderr,
        dynamic_ncols=True,
        leave=False,
        bar_format="{l_bar}{bar}| {n:.1f}/{total} [{elapsed}<{remaining}{postfix}]",
    )


def scan(args: argparse.Namespace) -> int:
    settings = _settings_from_args(args)
    paths = list(expand_inputs(args.paths))
    if not paths:
        print(
            "deepfake-detector: no video or photo files found in the given paths", file=sys.stderr
        )
        return EXIT_UNANALYSED
    try:
        analyzer = Analyzer(settings)
    except DetectorError as exc:
        print(f"deepfake-detector: {exc}", file=sys.stderr)
        return EXIT_UNANALYSED
    if not analyzer.classifier.info.trained and not args.quiet:
        print(
            f"deepfake-detector: warning: model '{analyzer.classifier.info.name}' has untrained "
            "weights; its verdicts mean nothing. Pass --model with trained weights.",
            file=sys.stderr,
        )
    show_progress = not args.quiet and sys.stderr.isatty()
    bar = _progress_bar(len(paths), show_progress)
    info = analyzer.classifier.info
    # A photo's score is never a chance (see Analyzer._run): the column says so if any input is.
    probability = info.score_is_probability and not any(is_image_path(p) for p in paths)
    out = _Output(args.format, sys.stdout, probability, paths)
    status = EXIT_OK
    save_root = Path(args.save_crops) if args.save_crops else None
    for done, path in enumerate(paths):
        evidence = _evidence_dir(save_root, path) if save_root else None
        progress = None
        if bar is not None:
            bar.set_postfix_str(path.name[-40:], refresh=True)

            def progress(_stage: str, fraction: float, done: int = done) -> None:
                bar.update(max(0.0, done + fraction - bar.n))  # within the video too

        result = analyzer.analyze(path, evidence_dir=evidence, progress=progress)
        if bar is not None:
            bar.update(done + 1 - bar.n)
            with bar.external_write_mode(file=sys.stdout):
                out.add(result)
        else:
            out.add(result)
        status = max(status, exit_status(result), key=_SEVERITY.index)
    if bar is not None:
        bar.close()
    return status


def _settings_from_args(args: argparse.Namespace) -> AnalysisSettings:
    settings = settings_from_env()
    overrides: dict[str, object] = {}
    if args.frames is not None:
        overrides["frames"] = args.frames
    if args.frames_per_second is not None:
        overrides["frames_per_second"] = args.frames_per_second
    for name in ("model", "device", "backend", "detector"):
        value = getattr(args, name)
        if value is not None:
            overrides[name] = value
    return replace(settings, **overrides)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deepfake-detector",
        description="Detect manipulated faces in videos and photos.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "scan",
        help="analyse videos and photos: files, folders or globs",
        description="Analyse videos and photos (a photo is one frame); each result is printed "
        "as soon as that input is done. "
        "Exit status: 0 all analysed and none FAKE or uncertain, 1 any FAKE (outside the "
        "model's uncertain band), 3 none FAKE but some uncertain, 2 any not analysed (wins).",
    )
    p.add_argument(
        "paths", nargs="+", metavar="PATH", help="video or photo files, folders or globs"
    )
    p.add_argument(
        "--format",
        choices=["table", "json", "csv"],
        default="table",
        help="table (default), json (one result object per line, the result schema) or csv",
    )
    p.add_argument(
        "--frames",
        type=_positive_int,
        help="frames sampled evenly across each video (default 32, DFD_FRAMES)",
    )
    p.add_argument(
        "--frames-per-second",
        type=_positive_float,
        help="sample this many frames per second instead (at most 256 a video)",
    )
    p.add_argument(
        "--model",
        help="a name from `deepfake-detector models` (default: the shipped default) or a path "
        "(a seed .pt file, .safetensors, a model folder)",
    )
    p.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        help="where the model runs (default auto: the first GPU if CUDA works, else the CPU)",
    )
    p.add_argument(
        "--backend",
        choices=["auto", "torch", "onnxruntime", "openvino"],
        help="how the model runs (default auto: PyTorch on a GPU, else the fastest on this CPU, "
        "measured once)",
    )
    p.add_argument(
        "--detector",
        help="face detector: mtcnn (the default), retinaface (about 4x faster) or haar "
        "(DFD_DETECTOR)",
    )
    p.add_argument(
        "--save-crops",
        metavar="DIR",
        help="write each input's sampled frames and face crops into a folder of its own here",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or warnings")
    p.set_defaults(handler=scan)

    m = sub.add_parser("models", help="list the models that can be named with --model")
    m.set_defaults(handler=list_models)

    from deepfake_detector.service.cli_serve import add_serve_parser
    from deepfake_detector.service.cli_tokens import add_tokens_parser
    from deepfake_detector.submit import add_submit_parser
    from deepfake_detector.training.autoencoder_command import add_autoencoder_parser
    from deepfake_detector.training.evaluate_command import add_evaluate_parser
    from deepfake_detector.training.extract_command import add_extract_parser
    from deepfake_detector.training.index_command import add_index_parser
    from deepfake_detector.training.synth_command import add_synth_parser
    from deepfake_detector.training.train_command import add_train_parser

    add_serve_parser(sub)
    add_tokens_parser(sub)
    add_submit_parser(sub)
    add_index_parser(sub)
    add_extract_parser(sub)
    add_train_parser(sub)
    add_autoencoder_parser(sub)
    add_evaluate_parser(sub)
    add_synth_parser(sub)
    return parser


def list_models(args: argparse.Namespace) -> int:
    """One line per name ``--model`` accepts: the name, a tab, what it is."""
    from deepfake_detector.models.checkpoints import read_config
    from deepfake_detector.models.registry import (
        DEFAULT_NAME,
        UNTRAINED_NAME,
        WEIGHTS_DIR,
        available_models,
        default_model_name,
        untrained_config,
    )

    for name in available_models():
        if name == DEFAULT_NAME:
            print(f"{name}\tis {default_model_name()}")
            continue
        config = (
            untrained_config()
            if name == UNTRAINED_NAME
            else read_config(WEIGHTS_DIR / name / "config.json")
        )
        state = "trained" if config.trained else "untrained (random weights)"
        print(f"{name}\t{state}, {config.backbone}, {config.input_size} px")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args))
    except SettingsError as exc:  # a DFD_* variable that cannot be used: one line, no traceback
        print(f"deepfake-detector: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("deepfake-detector: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into a program that stopped reading (e.g. `| head`): not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
