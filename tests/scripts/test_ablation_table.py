"""scripts/ablation_table.py: training logs of the family ablation → one Markdown row per run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import ablation_table  # lives in scripts/, put on the path above


def _log(
    folder: Path, backbone: str, fakes: dict[str, float], aucs: list[dict[str, float]]
) -> None:
    folder.mkdir(parents=True)
    lines = [{"event": "start", "config": {"backbone": backbone, "fakes": fakes}}]
    for epoch, per_family in enumerate(aucs, 1):
        val = {
            "auc": sum(per_family.values()) / len(per_family),
            "per_family": {
                name: {"auc": auc, "n_real": 8, "n_fake": 8} for name, auc in per_family.items()
            },
        }
        lines.append({"event": "epoch", "epoch": epoch, "time_s": 10.0, "val": val})
    lines.append({"event": "end"})
    (folder / "log.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")


def test_one_row_per_run_at_its_last_epoch(tmp_path: Path, capsys) -> None:
    _log(
        tmp_path / "selfblend",
        "efficientnet_lite0",
        {"selfblend": 1.0, "flicker": 0.0},
        [
            {"selfblend": 0.6, "flicker": 0.5},
            {"selfblend": 0.9, "flicker": 0.7},
        ],
    )
    _log(
        tmp_path / "flicker",
        "mobilenet_v2",
        {"flicker": 1.0},
        [{"selfblend": 0.55, "flicker": 0.95}],
    )
    (tmp_path / "unstarted").mkdir()
    out = tmp_path / "table.json"
    assert ablation_table.main([str(tmp_path), "--json", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert (
        printed[0]
        == "| run | backbone | trained on (weights) | epochs | selfblend | flicker | mean |"
    )
    assert "| flicker | mobilenet_v2 | flicker 1 | 1 | 0.550 | 0.950 | 0.750 |" in printed
    assert "| selfblend | efficientnet_lite0 | selfblend 1 | 2 | 0.900 | 0.700 | 0.800 |" in printed
    table = json.loads(out.read_text())
    assert table["selfblend"]["seconds"] == 20.0 and table["flicker"]["backbone"] == "mobilenet_v2"


def test_no_finished_epoch_is_an_error(tmp_path: Path, capsys) -> None:
    assert ablation_table.main([str(tmp_path)]) == 1
    assert "no finished epochs" in capsys.readouterr().err
