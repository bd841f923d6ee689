"""Ship a trained model folder inside the package, with its evaluation in the model card.

Usage:
  python scripts/ship_model.py runs/RUN/model --report EVAL/report.json \
      --reproduce docs/models/reproduce-NAME.md [--validation VAL.json] [--notes NOTES.md] \
      [--data DATA.md] [--logo LOGO.json] [--section SECTION.md ...] [--summary TEXT] [--default]

Copies ``config.json``, ``model.safetensors`` (already half precision) and ``landmarks.json`` (the
landmark member, when there is one) into
``src/deepfake_detector/models/weights/<name>/`` and writes its ``MODEL_CARD.md``: the card the
trainer wrote (rebuilt from ``config.json`` when the folder has none) with DATA (sources and
licences) added to its "Training data" section, then a table of
``train --validate`` on every synthesised family (VALIDATION), then an "Evaluation on ..."
section (the report's tables, then NOTES) before "Known limits", and the "Reproduce" section
replaced by the commands in REPRODUCE. ``--default`` makes it the model ``default`` names.
Refuses weights over 60 MB, not in half precision, or other than the ones the report measured.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path

from safetensors import safe_open

from deepfake_detector.models.checkpoints import file_sha256, read_config
from deepfake_detector.models.ensemble import MEMBERS_NAME, LandmarkMember
from deepfake_detector.models.registry import WEIGHTS_DIR
from deepfake_detector.training.evaluate import EvaluationReport, report_markdown
from deepfake_detector.training.logo import combination_helps
from deepfake_detector.training.logo import report_markdown as logo_markdown
from deepfake_detector.training.model_card import CARD_NAME, model_card_text

MAX_BYTES = 60 * 2**20
FLOAT_DTYPES = {"F16", "BF16", "F32", "F64"}


def _section_split(card: str, title: str) -> tuple[str, str]:
    """``(text before "## title", text from it on)``; the whole card and "" when absent."""
    marker = f"\n## {title}"
    i = card.find(marker)
    return (card, "") if i < 0 else (card[:i], card[i:])


def validation_markdown(validation: dict, trained_on: set[str]) -> str:
    """``train --validate`` output as a section: AUC/EER per synthesised family."""
    rows = [f"| all families | {validation['auc']:.3f} | {validation['eer']:.3f} |"]
    for name, m in validation["per_family"].items():
        label = name if name in trained_on else f"{name} (not trained on)"
        rows.append(f"| {label} | {m['auc']:.3f} | {m['eer']:.3f} |")
    first = next(iter(validation["per_family"].values()))
    return (
        "\n## Validation on every synthesised family\n"
        f"`deepfake-detector train CONFIG --validate MODEL`: {first['n_real']} real clips of "
        f"held-out identities against {first['n_fake']} fakes per family made from them.\n\n"
        "| fakes | AUC | EER |\n|---|---|---|\n" + "\n".join(rows) + "\n"
    )


def build_card(
    trained_card: str,
    report: dict,
    notes: str,
    reproduce: str,
    validation: str = "",
    data_notes: str = "",
    sections: str = "",
) -> str:
    """The shipped card: training card (+ data notes) + validation + extra sections (LOGO,
    shortcut probe, codec check) + evaluation section + reproduce commands."""
    data_name = Path(report.get("notes", {}).get("data", "the evaluation data")).name
    evaluation = (
        f"\n## Evaluation on `{data_name}`\n"
        f"`deepfake-detector evaluate` report ({report.get('created', '?')}):\n\n"
        + report_markdown(EvaluationReport(**report))
        + ("\n" + notes.strip() + "\n" if notes.strip() else "")
    )
    if data_notes.strip():
        before, after = _section_split(trained_card, "Recipe")
        trained_card = before.rstrip() + "\n\n" + data_notes.strip() + "\n" + after
    head, rest = _section_split(trained_card, "Known limits")
    limits, _ = _section_split(rest, "Reproduce")
    return (
        head.rstrip()
        + "\n"
        + validation
        + sections
        + evaluation
        + limits.rstrip()
        + "\n\n## Reproduce\n"
        + reproduce.strip()
        + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="trained model folder (runs/RUN/model)")
    parser.add_argument("--report", type=Path, required=True, help="evaluate's report.json")
    parser.add_argument("--reproduce", type=Path, required=True, help="Markdown: the commands")
    parser.add_argument("--validation", type=Path, help="JSON printed by train --validate")
    parser.add_argument("--notes", type=Path, help="Markdown appended to the evaluation section")
    parser.add_argument("--data", type=Path, help="Markdown appended to the training data section")
    parser.add_argument(
        "--logo", type=Path, help="logo.json of scripts/logo_table.py: the LOGO section"
    )
    parser.add_argument(
        "--section",
        type=Path,
        action="append",
        default=[],
        help="Markdown section added before the evaluation (repeatable; starts with ## Title)",
    )
    parser.add_argument("--summary", help="one line of measured accuracy, stored in config.json")
    parser.add_argument("--default", action="store_true", help="make it the default model")
    parser.add_argument("--weights-dir", type=Path, default=WEIGHTS_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    config = read_config(args.model / "config.json")
    weights = args.model / "model.safetensors"
    if weights.stat().st_size > MAX_BYTES:
        print(f"{weights} is over 60 MB", file=sys.stderr)
        return 2
    with safe_open(str(weights), framework="pt") as handle:
        floats = {handle.get_slice(k).get_dtype() for k in handle.keys()} & FLOAT_DTYPES  # noqa: SIM118 (not iterable)
    if floats != {"F16"}:
        print(f"{weights} is not half precision ({sorted(floats)})", file=sys.stderr)
        return 2
    report = json.loads(args.report.read_text(encoding="utf-8"))
    if report["model"]["sha256"] != file_sha256(weights):
        print("the report is of other weights (sha256 differs)", file=sys.stderr)
        return 2
    # Rebuilt from config.json, not read from the card training wrote: calibration stored since
    # (scripts/logo_table.py --calibrate) must show in it.
    trained_card = model_card_text(config, "(see Reproduce)")
    trained_on = {n for n, w in (config.training.get("config", {}).get("fakes") or {}).items() if w}
    validation = (
        validation_markdown(json.loads(args.validation.read_text(encoding="utf-8")), trained_on)
        if args.validation
        else ""
    )
    sections = ""
    if args.logo:
        logo = json.loads(args.logo.read_text(encoding="utf-8"))
        sections += (
            "\n## Leave-one-generator-out validation\n"
            "Each real-world generator family (or small group) was left out of one training run "
            "of this same recipe (`scripts/logo.sh`) and scored against that run's held-out real "
            "videos (`scripts/logo_table.py`); the epoch was chosen on the other families and "
            "synthesised fakes only. The temperature, the uncertain band and the ECE stored "
            "with this model come from these out-of-fold scores.\n\n" + logo_markdown(logo)
        )
    member = args.model / MEMBERS_NAME
    if member.is_file():
        loaded_member = LandmarkMember.load(member)
        c = loaded_member.combination
        grid = (
            f" Its training tracks were sampled {loaded_member.sample_frames} times per clip, so a "
            "person sampled more densely is scored on that many of the video's samples, evenly "
            "spread."
            if loaded_member.sample_frames
            else ""
        )
        stacking = logo.get("stacking", {}) if args.logo else {}
        regularisation = (
            f" (C = {stacking['landmark_regularisation']:g}, the report's)"
            if "landmark_regularisation" in stacking
            else ""
        )
        sections += (
            "\n## Second scorer: landmark dynamics\n"
            f"`{MEMBERS_NAME}` beside the weights: 20 motion statistics of the face detector's "
            "five landmarks (mouth width and height, yaw, roll, scale; their spread and rate of "
            "change) over a person's frames, scored by a logistic regression fitted on this "
            f"model's training split{regularisation}. It abstains on stills and when frames are "
            f"more than 1 s apart.{grid} Combined score: `sigmoid("
            f"{c.texture_logit:.3f} × texture logit + {c.landmark_logit:.3f} × landmark logit "
            f"{c.landmark_abstained:+.3f} × abstained {c.bias:+.3f})`, fitted on the "
            "leave-one-generator-out scores above. The band and ECE in `config.json` are the "
            "combination's; its temperature is the texture model's, fitted on the same scores "
            "(the texture logit above is the raw one: temperature × logit of its probability).\n"
        )
    elif args.logo and "combined" in logo:
        sections += (
            "\n## Second scorer: not shipped\n"
            "The report above also measures a landmark-dynamics scorer and its combination with "
            "this model. By the rule in `training/logo.py::combination_helps` (a higher pooled "
            "AUC than this model's, face swaps not worse) it "
            f"{'helps' if combination_helps(logo) else 'does not help'} there; this model "
            "ships without it, and its band and ECE are its own.\n"
        )
    for path in args.section:
        sections += "\n" + path.read_text(encoding="utf-8").strip() + "\n"
    card = build_card(
        trained_card,
        report,
        args.notes.read_text(encoding="utf-8") if args.notes else "",
        args.reproduce.read_text(encoding="utf-8"),
        validation,
        args.data.read_text(encoding="utf-8") if args.data else "",
        sections,
    )
    target = args.weights_dir / config.name
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.model / "config.json", target / "config.json")
    if args.summary:
        shipped = replace(read_config(target / "config.json"), summary=args.summary.strip())
        (target / "config.json").write_text(
            json.dumps(shipped.to_dict(), indent=2) + "\n", encoding="utf-8"
        )
    shutil.copyfile(weights, target / "model.safetensors")
    member = args.model / MEMBERS_NAME  # the landmark member, when the model has one
    if member.is_file():
        shutil.copyfile(member, target / MEMBERS_NAME)
    else:
        (target / MEMBERS_NAME).unlink(missing_ok=True)
    (target / CARD_NAME).write_text(card, encoding="utf-8")
    if args.default:
        (args.weights_dir / "default.json").write_text(
            json.dumps({"name": config.name}) + "\n", encoding="utf-8"
        )
    print(f"shipped {config.name} -> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
