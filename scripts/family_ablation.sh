#!/usr/bin/env bash
# Which synthesised fake families help? Trains one short run per family (and two mixtures) from
# configs/ablation/, each validated on held-out identities with EVERY family, then prints the
# table (scripts/ablation_table.py). backbone-mobilenet_v2 repeats selfblend-upsampling with
# MobileNetV2 in place of EfficientNet-Lite0. About 6 minutes per run on a 2-core CPU.
# Needs the crop cache of the CPU recipe (see configs/cpu-selfblend-efficientnet-lite0.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
DFD=(python -m deepfake_detector.cli)
if [ ! -f cache/trace-autoencoder-160.safetensors ]; then
  "${DFD[@]}" train-autoencoder configs/ablation/all.yaml
fi
for run in selfblend upsampling autoencoder flicker selfblend-upsampling all backbone-mobilenet_v2; do
  if grep -qs '"event": "end"' "runs/ablation/$run/log.jsonl"; then
    continue  # finished earlier
  elif [ -f "runs/ablation/$run/last.pt" ]; then
    "${DFD[@]}" train "configs/ablation/$run.yaml" --resume
  else
    "${DFD[@]}" train "configs/ablation/$run.yaml"
  fi
done
python scripts/ablation_table.py runs/ablation
