#!/usr/bin/env bash
# Leave-one-generator-out validation of a training recipe: one run per real-world generator
# family (or small group of families), each trained without it and scored on it against
# held-out real identities, then the table (family, n, AUC, EER) from scripts/logo_table.py.
#   bash scripts/logo.sh configs/realworld-efficientnet-lite0.yaml runs/logo
# Further arguments go to every `train` run, e.g. another seed on the same held-out faces:
#   bash scripts/logo.sh configs/realworld-efficientnet-lite0.yaml runs/logo-seed1 --seed 1 --split-seed 0
# Families: the index's `method` of the cache's fakes (deepfake-detector index --layout manifest).
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:?usage: logo.sh CONFIG.yaml OUT_DIR [TRAIN ARGS...]}
out=${2:?usage: logo.sh CONFIG.yaml OUT_DIR [TRAIN ARGS...]}
shift 2
bin=${DFD_BIN:-.venv/bin/deepfake-detector}
folds=(
  "deepfacelive"
  "anitalker"
  "cyberhost"
  "edtalk"
  "float"
  "linly musev synctalk"
)
mkdir -p "$out"
for fold in "${folds[@]}"; do
  name=${fold// /+}
  if [[ -f "$out/$name/model/config.json" && ! -f "$out/$name/last.pt.tmp" ]] && grep -q '"event": "end"' "$out/$name/log.jsonl" 2>/dev/null; then
    echo "logo: $name done already" >&2
    continue
  fi
  args=()
  for family in $fold; do args+=(--holdout "$family"); done
  resume=()
  [[ -f "$out/$name/last.pt" ]] && resume=(--resume)
  "$bin" train "$config" --out "$out/$name" "${args[@]}" "${resume[@]}" "$@"
done
.venv/bin/python scripts/logo_table.py "$out" > "$out/logo.md"
cat "$out/logo.md"
