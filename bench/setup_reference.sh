#!/usr/bin/env bash
# Set up the venv that runs the ORIGINAL magenta sketch_rnn code for the side-by-side benchmarks.
#
#   bash bench/setup_reference.sh            # idempotent: does nothing if already set up
#   FORCE=1 bash bench/setup_reference.sh    # rebuild from scratch
#   PYTHON=/path/to/python3.11 bash bench/setup_reference.sh
#
# Creates bench/.venv-magenta (git-ignored) with:
#   - magenta==2.1.4 installed with --no-deps (its own requirements pin TF1-era packages that
#     do not exist for Python 3.11; only magenta/models/sketch_rnn is used, and
#     magenta/__init__.py is never executed, see bench/reference/_magenta.py);
#   - tensorflow-cpu + tf_keras of the same minor version (TF1 graph mode through
#     tensorflow.compat.v1; tf_keras because the benchmarks set TF_USE_LEGACY_KERAS=1);
#   - the few small packages sketch_rnn's model.py / rnn.py / utils.py / sketch_rnn_train.py
#     import: numpy (with TF), six, requests, svgwrite.
# No magenta code is stored in this repository: it comes from PyPI here.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${MAGENTA_VENV:-$HERE/.venv-magenta}"
PY="${PYTHON:-python3}"
TF_VERSION="${REF_TF_VERSION:-2.21.0}"
MAGENTA_VERSION="2.1.4"
STAMP="$VENV/.sketch_rnn_reference_ok"

start=$(date +%s)

if [[ -f "$STAMP" && -z "${FORCE:-}" ]]; then
  echo "reference venv already set up at $VENV ($(cat "$STAMP")); FORCE=1 to rebuild"
  exit 0
fi

if [[ -n "${FORCE:-}" || ! -x "$VENV/bin/python" ]]; then
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
fi

VPY="$VENV/bin/python"
pip_install() {
  # The machine's pip config names extra local indexes that may be absent: drop that noise.
  "$VPY" -m pip install --quiet "$@" 2> >(grep -v "is ignored: it is neither a file" >&2)
}
pip_install --upgrade pip

# tensorflow-cpu; fall back to the newest release if the pinned one is not available.
if ! pip_install "tensorflow-cpu==$TF_VERSION"; then
  echo "tensorflow-cpu==$TF_VERSION not installable here; trying the latest release" >&2
  pip_install tensorflow-cpu
fi
tfv=$("$VPY" -c 'import importlib.metadata as m; print(m.version("tensorflow-cpu"))')
WANT="magenta=$MAGENTA_VERSION tensorflow-cpu=$tfv"
# tf_keras depends on "tensorflow", which would pull the full (CUDA-enabled) wheel over the
# same files as tensorflow-cpu: install it without dependencies.
pip_install --no-deps "tf_keras~=${tfv%.*}.0"
# What magenta/models/sketch_rnn/{model,rnn,utils,sketch_rnn_train}.py and
# magenta/contrib/training.py import besides numpy and TensorFlow.
pip_install six requests svgwrite
pip_install --no-deps "magenta==$MAGENTA_VERSION"

# Smoke test: import the original modules through the shim (never runs magenta/__init__.py).
"$VPY" "$HERE/reference/_magenta.py"

echo "$WANT" > "$STAMP"
end=$(date +%s)
echo "reference venv ready at $VENV ($WANT) in $((end - start)) s"
