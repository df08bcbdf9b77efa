#!/usr/bin/env bash
# One call of the accelerator lease (docs/performance.md, "Lease plan"). The same command every
# call; what it does depends on what this call carried and what the machine already holds:
#
#   call 1, carry [".whl", ".lease/c1"]:  bash benchmarks/lease.sh --call_minutes 8
#   call 2, carry [".lease/c2"], at once: bash benchmarks/lease.sh --budget_left_s S
#     (S: the first reply's lease.budget_left_s; the machine stays warm only 30 s)
#
# Installs the carried wheels (Keras, namex, optree) into $GANZOO_LEASE_HOME/site once, then runs
# `benchmarks/lease.py call "$@"` with KERAS_BACKEND=jax. The log goes to $OUT/lease-log.txt
# (and $GANZOO_LEASE_HOME/lease-log.txt, which keeps every call's).
set -uo pipefail
export LEASE_T0="${LEASE_T0:-$(date +%s.%N)}"
cd "$(dirname "$0")/.."
LEASE_HOME_DIR="${GANZOO_LEASE_HOME:-/root/lease}"
export GANZOO_LEASE_HOME="$LEASE_HOME_DIR"
OUT_DIR="${OUT:-$LEASE_HOME_DIR/out}"
PY="${LEASE_PYTHON:-python3}"
mkdir -p "$LEASE_HOME_DIR" "$OUT_DIR"

{
  echo "[lease.sh] $(date -u +%FT%TZ) host $(hostname) args: $*"
  if ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target "$LEASE_HOME_DIR/site" .whl/*.whl || { echo "[lease.sh] wheel install failed"; exit 2; }
    echo "[lease.sh] installed $(ls .whl | tr '\n' ' ')into $LEASE_HOME_DIR/site"
  elif [ ! -d "$LEASE_HOME_DIR/site/keras" ]; then
    echo "[lease.sh] no wheels carried and none installed: carry .whl (python benchmarks/lease.py wheels)"
  fi
  export PYTHONPATH="$LEASE_HOME_DIR/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
  export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
  # Several JAX processes share the GPU during the benchmark: allocate on demand.
  export XLA_PYTHON_CLIENT_PREALLOCATE="${XLA_PYTHON_CLIENT_PREALLOCATE:-false}"
  # Compiled programs persist between calls on a warm machine (the resumed step, Inception).
  export JAX_COMPILATION_CACHE_DIR="${JAX_COMPILATION_CACHE_DIR:-$LEASE_HOME_DIR/jax-cache}"
  export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="${JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS:-1}"
  export JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="${JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES:-0}"
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total,clocks.sm,clocks.max.sm \
      --format=csv,noheader || true
  fi
  echo "[lease.sh] setup took $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $LEASE_T0}") s"
  "$PY" benchmarks/lease.py call "$@"
  code=$?
  echo "[lease.sh] exit $code after $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $LEASE_T0}") s"
  exit $code
} 2>&1 | tee -a "$OUT_DIR/lease-log.txt" "$LEASE_HOME_DIR/lease-log.txt"
