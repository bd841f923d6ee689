"""Leave-one-generator-out report of the fold runs under a folder (written by scripts/logo.sh).

python scripts/logo_table.py runs/logo            # Markdown on stdout, JSON beside the runs
python scripts/logo_table.py runs/logo --reuse --calibrate runs/RUN/model   # then calibrate
(--reuse rewrites the JSON and its reliability diagram from the per-clip scores it keeps)
python scripts/logo_table.py runs/logo --reuse --refit-landmarks configs/RECIPE.yaml
    # refit the folds' landmark scorers on the crop cache (no fold models needed) at each C of
    # training/logo.py's grid and keep the C chosen there (or at the one --landmark-c gives)
python scripts/logo_table.py runs/logo --reuse --json OLD.json --drop-left-out cache/train-224
    # a report written before training/track_labels.py, without the faces that rule leaves out
python scripts/logo_table.py DIR --reuse --json AVERAGE.json --average RUN2.json --average RUN3.json
    # AVERAGE.json (a copy of one run's report) rewritten with each clip's mean texture logit
    # over the runs (same faces), and whether it meets training/logo.py::RUN_AVERAGE_RULE
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from deepfake_detector.training.crop_cache import CropCache
from deepfake_detector.training.logo import (
    LANDMARK_REGULARISATION,
    LANDMARK_REGULARISATION_GRID,
    RUN_AVERAGE_RULE,
    averaged_runs,
    calibrate_model,
    choose_landmark_regularisation,
    combination_helps,
    fold_dirs,
    folds_from_report,
    logo_report,
    plot_reliability,
    refit_landmarks,
    report_markdown,
    run_average_helps,
    score_fold,
    without_left_out,
    write_report,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", help="folder holding one run folder per fold")
    parser.add_argument("--json", help="write the full report here (default: RUNS/logo.json)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument(
        "--ensemble",
        choices=["auto", "yes", "no"],
        default="auto",
        help="with --calibrate: also store the landmark member (auto: when the pre-set rule "
        "in training/logo.py::combination_helps says the combination helps)",
    )
    parser.add_argument(
        "--calibrate",
        metavar="MODEL_DIR",
        help="store the pooled temperature, the borderline band and the cross-fitted ECE in "
        "this model folder (a model of the same recipe, e.g. the one to ship)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="recompute the report from the per-clip scores kept in the JSON written before and "
        "rewrite it (no fold models or crop cache needed)",
    )
    parser.add_argument(
        "--landmark-c",
        type=float,
        help="C of the folds' landmark-dynamics scorers (default: "
        f"{LANDMARK_REGULARISATION:g}, or with --refit-landmarks the one chosen from "
        f"{', '.join(f'{c:g}' for c in LANDMARK_REGULARISATION_GRID)})",
    )
    parser.add_argument(
        "--refit-landmarks",
        metavar="CONFIG",
        help="with --reuse: refit each fold's landmark scorer on the training split this recipe "
        "draws with the fold held out (needs its crop cache, not the fold models)",
    )
    parser.add_argument(
        "--drop-left-out",
        metavar="CACHE",
        help="with --reuse: drop the rows of labelled fakes' faces that do not show the "
        "manipulation (training/track_labels.py), for a report written before that rule; needs "
        "the crop cache (with face sizes) the report's folds were scored from",
    )
    parser.add_argument(
        "--average",
        metavar="REPORT",
        action="append",
        default=[],
        help="with --reuse: average each clip's texture logit with this report's (another run "
        "of the same folds on the same faces; repeatable)",
    )
    args = parser.parse_args(argv)
    json_path = Path(args.json or Path(args.runs) / "logo.json")
    if args.refit_landmarks and not args.reuse:
        parser.error("--refit-landmarks needs --reuse")
    if args.drop_left_out and not args.reuse:
        parser.error("--drop-left-out needs --reuse")
    if args.average and not args.reuse:
        parser.error("--average needs --reuse")
    if args.reuse and args.landmark_c is not None and not args.refit_landmarks:
        parser.error("--landmark-c with --reuse needs --refit-landmarks (the logits are stored)")
    regularisation = LANDMARK_REGULARISATION if args.landmark_c is None else args.landmark_c
    if args.reuse:
        written = json.loads(json_path.read_text(encoding="utf-8"))
        folds = folds_from_report(written)
        if args.drop_left_out:
            try:
                folds, dropped = without_left_out(folds, CropCache(args.drop_left_out))
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            for path, track, reason in dropped:
                print(f"left out: {path} face {track} ({reason})", file=sys.stderr)
        if args.average:
            try:
                others = [
                    folds_from_report(json.loads(Path(p).read_text(encoding="utf-8")))
                    for p in args.average
                ]
                folds = averaged_runs([folds, *others])
            except (OSError, ValueError, KeyError) as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
        choice = None
        if args.refit_landmarks:
            grid = LANDMARK_REGULARISATION_GRID if args.landmark_c is None else [args.landmark_c]
            try:
                by_c = {c: refit_landmarks(folds, args.refit_landmarks, c) for c in grid}
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            if len(by_c) > 1:
                choice = choose_landmark_regularisation(by_c)
                regularisation = choice["chosen"]
            else:
                regularisation = grid[0]
            folds = by_c[regularisation]
        else:  # the stored logits keep the C they were fitted with (1 before it was recorded)
            regularisation = written.get("stacking", {}).get("landmark_regularisation", 1.0)
            choice = written.get("landmark_regularisation_choice")
        report = logo_report(folds, regularisation)
        if choice is not None:
            report["landmark_regularisation_choice"] = choice
    else:
        folds = fold_dirs(args.runs)
        if not folds:
            print(f"error: no finished fold runs under {args.runs}", file=sys.stderr)
            return 2
        scores = []
        for run in folds:
            print(f"scoring {run.name} ...", file=sys.stderr, flush=True)
            scores.append(
                score_fold(run, threads=args.threads, landmark_regularisation=regularisation)
            )
        report = logo_report(scores, regularisation)
    write_report(report, json_path)
    plot_reliability(report, json_path.with_name(json_path.stem + "-reliability.png"))
    if args.calibrate:
        ensemble = args.ensemble == "yes" or (args.ensemble == "auto" and combination_helps(report))
        print(f"landmark member: {'stored' if ensemble else 'not used'}", file=sys.stderr)
        config = calibrate_model(report, args.calibrate, ensemble=ensemble)
        print(
            f"stored temperature {config.temperature:.4f}, band {config.band}, ECE {config.ece:.4f}"
            f" in {args.calibrate}",
            file=sys.stderr,
        )
    print(report_markdown(report), end="")
    if args.average:
        verdict = "meets" if run_average_helps(report) else "does not meet"
        print(f"\nThe average of {len(args.average) + 1} runs {verdict} {RUN_AVERAGE_RULE}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
