"""``deepfake-detector evaluate``: score a dataset (root folder or ``.jsonl`` index), print a
summary, write ``report.json`` + plots, optionally fit and store a temperature first.

Exit status: 0 done; 2 bad input (missing data, unreadable index, nothing selected, model error).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from deepfake_detector.errors import ModelError
from deepfake_detector.training.index import IndexItem, read_index

EXIT_OK, EXIT_BAD_INPUT = 0, 2
ALL_SPLITS = "all"


class InputError(Exception):
    """Bad user input: reported in one line, exit status 2."""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, metavar="PATH", help="dataset root or .jsonl index")
    p.add_argument("--layout", default="auto", help="dataset layout of a root folder (auto)")
    p.add_argument(
        "--split", default="test", help="split to evaluate (default test; 'all' for every item)"
    )
    p.add_argument("--model", default="default", help="model name or path (folder, .safetensors)")
    p.add_argument("--frames", type=_positive_int, help="frames sampled across each video")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None)
    p.add_argument("--out", metavar="DIR", help="report folder (default evaluation/<timestamp>)")
    p.add_argument(
        "--fit-temperature-on",
        metavar="SPLIT",
        help="fit a temperature on this split's raw logits and store it in the model folder "
        "(folder models only) before evaluating",
    )
    p.add_argument(
        "--codec-check",
        type=_positive_int,
        metavar="N",
        help="also re-encode the first N real videos as H.264, HEVC, VP9 and AV1 (two "
        "qualities each) and report how far each version's score moves (codec_check.md)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def add_evaluate_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``evaluate`` on the CLI's subparsers (``cli.build_parser`` calls this)."""
    p = subparsers.add_parser(
        "evaluate",
        help="measure a model on a labelled dataset (AUC, EER, accuracy, calibration)",
        description="Evaluate a model on a dataset root or .jsonl index. Exit status: 0 done, "
        "2 bad input.",
    )
    add_arguments(p)
    p.set_defaults(handler=run_evaluate)
    return p


def load_items(data: str, layout: str = "auto") -> tuple[list[IndexItem], Path]:
    """``(items, root)`` from a ``.jsonl`` index (root = its folder) or a dataset root."""
    path = Path(data)
    if not path.exists():
        raise InputError(f"{data}: no such file or folder")
    if path.is_file():
        if path.suffix != ".jsonl":
            raise InputError(f"{data}: expected a dataset folder or a .jsonl index")
        try:
            return list(read_index(path)), path.parent
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError) as exc:
            raise InputError(f"{data}: not a valid index ({exc})") from None
    from deepfake_detector.training.datasets import build_index  # lazily: optional layouts

    try:
        return list(build_index(path, layout=layout)), path
    except (ValueError, OSError) as exc:
        raise InputError(f"{data}: {exc}") from None


def select_split(items: list[IndexItem], split: str) -> list[IndexItem]:
    """Items of ``split``; ``all`` keeps everything. An index without any split labels (an
    evaluation-only set such as dev_eval) is used whole, with a note."""
    if split == ALL_SPLITS:
        return items
    chosen = [it for it in items if it.split == split]
    if not chosen and items and not any(it.split for it in items):
        print(f"note: the index has no splits; evaluating all {len(items)} items", file=sys.stderr)
        return items
    return chosen


def _analyzer(args: argparse.Namespace) -> Any:
    from deepfake_detector.analysis.pipeline import Analyzer
    from deepfake_detector.config import settings_from_env

    overrides: dict[str, Any] = {"model": args.model}
    if args.frames:
        overrides["frames"] = args.frames
    if args.device:
        overrides["device"] = args.device
    return Analyzer(replace(settings_from_env(), **overrides))


def _progress(quiet: bool, what: str) -> Any:
    if quiet:
        return None

    def report(done: int, total: int, path: str) -> None:
        end = "\n" if done == total else ""
        print(f"\r{what}: {done}/{total}", end=end, file=sys.stderr, flush=True)

    return report


def fit_and_store(args: argparse.Namespace, items: list[IndexItem], root: Path) -> dict[str, Any]:
    """Fit ``T`` on the ``--fit-temperature-on`` split and write it into the model folder."""
    from deepfake_detector.models.classifier import clear_classifier_cache
    from deepfake_detector.training.calibration import (
        expected_calibration_error,
        fit_temperature,
        store_calibration,
    )
    from deepfake_detector.training.evaluate import evaluate

    folder = Path(args.model)
    if not folder.is_dir():
        raise InputError(
            f"--fit-temperature-on needs --model to be a model folder (config.json + "
            f"model.safetensors) to store the temperature in; {args.model!r} is not one"
        )
    fit_items = [it for it in items if it.split == args.fit_temperature_on]
    if not fit_items:
        raise InputError(f"no items in split {args.fit_temperature_on!r} to fit a temperature on")
    report = evaluate(fit_items, root, _analyzer(args), _progress(args.quiet, "fitting"))
    rows = [r for r in report.items if r.scored and r.raw_logit is not None]
    logits, labels = [r.raw_logit for r in rows], [r.label for r in rows]
    try:
        t = fit_temperature(logits, labels)  # type: ignore[arg-type]
    except ValueError as exc:
        raise InputError(
            f"cannot fit a temperature on {args.fit_temperature_on!r}: {exc}"
        ) from None
    import numpy as np

    z = np.asarray(logits, np.float64)
    before = 1.0 / (1.0 + np.exp(-z))
    after = 1.0 / (1.0 + np.exp(-z / t))
    summary = {
        "fitted_on": args.fit_temperature_on,
        "n": len(rows),
        "temperature": t,
        "ece_before": expected_calibration_error(labels, before),
        "ece_after": expected_calibration_error(labels, after),
    }
    store_calibration(folder, t, provenance=summary)
    clear_classifier_cache()  # the next load must read the new temperature
    print(f"stored temperature {t:.4f} in {folder / 'config.json'} (fitted on {len(rows)} items)")
    return summary


def _fmt(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_summary(report: Any) -> str:
    """A compact table: one line per kind, then per source within each kind."""
    header = (
        f"{'group':<28} {'n':>5} {'real':>5} {'fake':>5} {'AUC':>6} {'acc':>6} "
        f"{'bacc':>6} {'logloss':>8} {'EER':>6}"
    )
    lines = [f"model: {report.model.get('name')} ({str(report.model.get('sha256'))[:12]})", header]

    def line(name: str, m: dict[str, Any]) -> str:
        return (
            f"{name[:28]:<28} {m['n']:>5} {m['n_real']:>5} {m['n_fake']:>5} {_fmt(m['auc']):>6} "
            f"{_fmt(m['accuracy']):>6} {_fmt(m['balanced_accuracy']):>6} "
            f"{_fmt(m['log_loss']):>8} {_fmt(m['eer']):>6}"
        )

    for kind, m in report.metrics.items():
        unscored = report.counts[kind]["unscored"]
        lines.append(
            line(f"{kind} (all)", m) + (f"  [{unscored} unscored → 0.5]" if unscored else "")
        )
        for source, sm in report.by_source.get(kind, {}).items():
            lines.append(line(f"  {source}", sm))
        pairs = report.pairs.get(kind, [])
        if pairs:
            right = sum(p["ranked_right"] is True for p in pairs)
            lines.append(f"  matched pairs: fake above its original in {right} of {len(pairs)}")
    return "\n".join(lines)


def run_evaluate(args: argparse.Namespace) -> int:
    """The command's body; returns the exit status."""
    from deepfake_detector.training.evaluate import evaluate, write_report

    try:
        items, root = load_items(args.data, args.layout)
        calibration = None
        if args.fit_temperature_on:
            calibration = fit_and_store(args, items, root)
        selected = select_split(items, args.split)
        if not selected:
            splits = sorted({it.split for it in items})
            raise InputError(f"no items in split {args.split!r} (splits present: {splits})")
        analyzer = _analyzer(args)
        report = evaluate(selected, root, analyzer, _progress(args.quiet, "evaluating"))
        codecs = None
        if args.codec_check:
            from deepfake_detector.training.codec_check import codec_check

            codecs = codec_check(
                selected, root, analyzer, args.codec_check, progress=_progress(args.quiet, "codecs")
            )
            if not codecs["clips"]:
                raise InputError("--codec-check: the selection holds no real videos")
    except InputError as exc:
        print(f"deepfake-detector evaluate: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ModelError as exc:
        print(f"deepfake-detector evaluate: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    report.notes.update({"data": str(args.data), "split": args.split})
    if calibration is not None:
        report.notes["calibration"] = calibration
    out = Path(args.out or Path("evaluation") / datetime.now().strftime("%Y%m%d-%H%M%S"))
    if codecs is not None:
        report.notes["codec_check"] = {k: v for k, v in codecs.items() if k != "clips"}
    paths = write_report(report, out)
    if codecs is not None:
        from deepfake_detector.training.codec_check import codec_markdown

        (out / "codec_check.json").write_text(json.dumps(codecs, indent=1), encoding="utf-8")
        (out / "codec_check.md").write_text(codec_markdown(codecs), encoding="utf-8")
    print(format_summary(report))
    if codecs is not None:
        print(codec_markdown(codecs), end="")
    print(f"report: {paths['report']}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run ``evaluate`` on its own (tests call this directly)."""
    parser = argparse.ArgumentParser(prog="deepfake-detector evaluate")
    add_arguments(parser)
    return run_evaluate(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
