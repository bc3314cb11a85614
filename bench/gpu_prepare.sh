#!/usr/bin/env bash
# Prepares what bench/gpu.sh needs on a GPU machine that has JAX and CUDA but neither TensorFlow nor
# Keras and no network: the missing wheels (Keras and its two dependencies that machine lacks,
# for its Python 3.12) in .whl/, and a copy of the parity cases in .gpu_data/ (both git-ignored).
# Run here, once, from anywhere: bash bench/gpu_prepare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
KERAS_VERSION=$(python -c "from importlib.metadata import version; print(version('keras'))")
rm -rf .whl && mkdir -p .whl
python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl "keras==$KERAS_VERSION" namex optree
rm -rf .gpu_data && mkdir -p .gpu_data
cp -r "${SKETCH_RNN_SHARED_DIR:-../shared}/parity" .gpu_data/parity
du -sh .whl .gpu_data
