"""scripts/ship_model.py: a model folder evaluated for real, shipped into a weights folder with
its card; weights that are not what the report measured, or not half precision, are refused."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import cv2
import pytest

from deepfake_detector.models.checkpoints import load_checkpoint, save_checkpoint
from deepfake_detector.models.registry import WEIGHTS_DIR, default_model_name
from deepfake_detector.training.evaluate_command import main as evaluate_main
from deepfake_detector.training.index import IndexItem, write_index

import video_factory

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import ship_model  # lives in scripts/, put on the path above

VALIDATION = {
    "auc": 0.9,
    "eer": 0.2,
    "per_family": {
        "selfblend": {"auc": 0.95, "eer": 0.1, "n_real": 8, "n_fake": 8},
        "flicker": {"auc": 0.55, "eer": 0.45, "n_real": 8, "n_fake": 8},
    },
}


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a copy of the shipped default model folder, a real evaluate report.json of it)."""
    root = tmp_path_factory.mktemp("ship")
    model = root / "model"
    shutil.copytree(WEIGHTS_DIR / default_model_name(), model)
    (model / "MODEL_CARD.md").unlink(missing_ok=True)  # rebuilt from config.json
    faces = root / "faces"
    faces.mkdir()
    items = []
    for i, photo in enumerate((video_factory.astronaut(), video_factory.grace_hopper())):
        cv2.imwrite(str(faces / f"{i}.jpg"), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
        items.append(IndexItem(f"faces/{i}.jpg", i, kind="face", source="photos", split="test"))
    write_index(items, root / "index.jsonl")
    out = root / "report"
    args = ["--data", str(root / "index.jsonl"), "--model", str(model), "--out", str(out), "-q"]
    assert evaluate_main([*args, "--device", "cpu"]) == 0
    return model, out / "report.json"


def _inputs(tmp_path: Path) -> list[str]:
    reproduce = tmp_path / "reproduce.md"
    reproduce.write_text("```\ndeepfake-detector train configs/x.yaml\n```\n")
    validation = tmp_path / "validation.json"
    validation.write_text(json.dumps(VALIDATION))
    data = tmp_path / "data.md"
    data.write_text("Licences: research only.\n")
    return ["--reproduce", str(reproduce), "--validation", str(validation), "--data", str(data)]


def test_ships_weights_config_and_card(evaluated, tmp_path: Path, capsys) -> None:
    model, report = evaluated
    weights_dir = tmp_path / "weights"
    args = [str(model), "--report", str(report), *_inputs(tmp_path)]
    assert ship_model.main([*args, "--default", "--weights-dir", str(weights_dir)]) == 0

    name = json.loads((model / "config.json").read_text())["name"]
    shipped = weights_dir / name
    assert json.loads((weights_dir / "default.json").read_text()) == {"name": name}
    weights = (shipped / "model.safetensors").read_bytes()
    assert weights == (model / "model.safetensors").read_bytes()
    card = (shipped / "MODEL_CARD.md").read_text()
    order = [
        "## Architecture",
        "## Training data",
        "## Recipe",
        "## Validation on every synthesised family",
        "## Evaluation on `index.jsonl`",
        "## Known limits",
        "## Reproduce",
    ]
    positions = [card.index(title) for title in order]
    assert positions == sorted(positions), positions
    assert card.index("Licences: research only.") < card.index("## Recipe")
    assert "| flicker (not trained on) | 0.550 | 0.450 |" in card
    assert "| selfblend | 0.950 | 0.100 |" in card
    assert card.rstrip().endswith("deepfake-detector train configs/x.yaml\n```")
    assert card.count("## Reproduce") == 1
    assert f"shipped {name}" in capsys.readouterr().out


def test_refuses_weights_the_report_did_not_measure(evaluated, tmp_path: Path, capsys) -> None:
    model, report = evaluated
    other = json.loads(report.read_text())
    other["model"]["sha256"] = "0" * 64
    (tmp_path / "other.json").write_text(json.dumps(other))
    weights_dir = tmp_path / "weights"
    args = [str(model), "--report", str(tmp_path / "other.json"), *_inputs(tmp_path)]
    assert ship_model.main([*args, "--weights-dir", str(weights_dir)]) == 2
    assert "sha256 differs" in capsys.readouterr().err
    assert not weights_dir.exists()


def test_refuses_full_precision_weights(evaluated, tmp_path: Path, capsys) -> None:
    model, report = evaluated
    loaded = load_checkpoint(model)
    fp32 = save_checkpoint(loaded.network, loaded.config, tmp_path / "fp32")
    weights_dir = tmp_path / "weights"
    args = [str(fp32), "--report", str(report), *_inputs(tmp_path)]
    assert ship_model.main([*args, "--weights-dir", str(weights_dir)]) == 2
    assert "not half precision" in capsys.readouterr().err
    assert not weights_dir.exists()


def _logo_report(folder: Path) -> Path:
    """A leave-one-generator-out report of three synthetic folds, landmark scorer at C 0.003."""
    import numpy as np

    from deepfake_detector.training.logo import FoldScores, logo_report, write_report

    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(20, int), np.ones(10, int)]
    folds = [
        FoldScores(
            name,
            [name],
            rng.normal(0, 1, 30) + labels,
            labels,
            ["" if y == 0 else name for y in labels],
            [f"{name}/{k}.mp4" for k in range(30)],
            ["video"] * 30,
            [f"{name}-{k}" for k in range(30)],
            rng.normal(0, 1, 30) + 2 * labels,
        )
        for name in ("gen_a", "gen_b", "gen_c")
    ]
    path = folder / "logo.json"
    write_report(logo_report(folds, landmark_regularisation=0.003), path)
    return path


def test_ships_the_landmark_member_summary_and_extra_sections(evaluated, tmp_path: Path) -> None:
    from deepfake_detector.models.ensemble import MEMBERS_NAME, Combination, LandmarkMember
    from deepfake_detector.models.landmark_dynamics import FEATURE_NAMES, LandmarkScorer

    model, report = evaluated
    n = len(FEATURE_NAMES)
    member = LandmarkMember(
        LandmarkScorer((0.0,) * n, (1.0,) * n, (0.1,) * n, 0.0),
        Combination(0.5, 0.9, -1.0, 0.1),
        sample_frames=24,
    )
    member.save(model / MEMBERS_NAME)
    section = tmp_path / "probe.md"
    section.write_text("## Shortcut probe\nmetadata AUC 0.5\n")
    weights_dir = tmp_path / "weights"
    args = [str(model), "--report", str(report), *_inputs(tmp_path)]
    extra = ["--section", str(section), "--summary", "AUC 0.9 on held-out generators."]
    extra += ["--logo", str(_logo_report(tmp_path))]
    try:
        assert ship_model.main([*args, *extra, "--weights-dir", str(weights_dir)]) == 0
    finally:
        (model / MEMBERS_NAME).unlink()
    shipped = weights_dir / json.loads((model / "config.json").read_text())["name"]
    assert LandmarkMember.load(shipped / MEMBERS_NAME) == member
    config = json.loads((shipped / "config.json").read_text())
    assert config["summary"] == "AUC 0.9 on held-out generators."
    card = (shipped / "MODEL_CARD.md").read_text()
    assert card.index("## Second scorer: landmark dynamics") < card.index("## Shortcut probe")
    assert card.index("## Shortcut probe") < card.index("## Evaluation on")
    assert "0.900 × landmark logit" in card
    assert "training split (C = 0.003, the report's)" in card  # the C the LOGO report chose
    assert "sampled 24 times per clip" in card
    assert "## Leave-one-generator-out validation" in card
    # Shipped again without a member: a stale landmarks.json must not stay behind, and the
    # card says the report's landmark scorer is not part of this model.
    logo = ["--logo", str(_logo_report(tmp_path))]
    assert ship_model.main([*args, *logo, "--weights-dir", str(weights_dir)]) == 0
    assert not (shipped / MEMBERS_NAME).exists()
    card = (shipped / "MODEL_CARD.md").read_text()
    assert "## Second scorer: not shipped" in card and "it helps there" in card
