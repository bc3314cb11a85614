#!/usr/bin/env bash
# The GPU figures of bench/RESULTS.md in one go of at most 8 minutes, on a machine with JAX and CUDA
# and no TensorFlow (the JAX backend): the device, the parity suite on the GPU, per-step training
# times (lstm, layer_norm, hyper at the default hparams), sampling (one sketch; 1,000 in one call)
# and 2,000 steps of real aaron_sheep training, whose cost curve and weights come back in $OUT.
# Prepare here first: bash bench/gpu_prepare.sh; then run it there with .whl and .gpu_data carried
# (the device tool: command "bash bench/gpu.sh", carry [".whl", ".gpu_data"], timeout 600 s).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/out/gpu}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1 SKETCH_RNN_PARITY_DIR=$PWD/.gpu_data/parity
{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    echo "== parity on the GPU (every case; the fused recurrences are TensorFlow's, skipped)"
    timeout 180 python3 -m pytest -q -p no:cacheprovider tests/test_parity.py 2>&1 | tail -4
    echo "== figures"
    timeout 400 python3 bench/gpu.py --out "$OUT"
} 2>&1 | tee "$OUT/log.txt"
