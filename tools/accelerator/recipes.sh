#!/usr/bin/env bash
# THERE (the device tool's `run`): compare training recipes on the validation split with benchmarks/recipes.py,
# each candidate trained for a whole profile budget, several at once on the one GPU.
# usage: bash tools/accelerator/recipes.sh EXPERIMENT PROFILE JOBS CANDIDATES [LIMIT_S]
# carry: [".whl", ".device/fer2013.tar.gz"] (tools/accelerator/prepare.sh makes them). Results: $OUT/recipes-*.{json,md}
set -uo pipefail
cd "$(dirname "$0")/../.."
EXPERIMENT=${1:?experiment}; PROFILE=${2:?profile}; JOBS=${3:?jobs}; CANDIDATES=${4:?candidates}; LIMIT=${5:-420}
bash tools/accelerator/session.sh setup || exit 2
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH KERAS_BACKEND=jax PYTHONUNBUFFERED=1
export JAX_COMPILATION_CACHE_DIR=/tmp/jax-cache FER_KERAS_CACHE=/tmp/fer_keras_cache
export XLA_PYTHON_CLIENT_MEM_FRACTION=$(python3 -c "print(round(0.9 / $JOBS, 3))")   # JOBS processes share the GPU
timeout "$LIMIT" python3 benchmarks/recipes.py "$EXPERIMENT" --profile "$PROFILE" --data data --jobs "$JOBS" \
  --candidates "$CANDIDATES" --out "$OUT/recipes-$EXPERIMENT.json"
status=$?
for f in "$OUT"/recipes-"$EXPERIMENT"/*.log; do tail -n 30 "$f" > "$f.tail" && mv "$f.tail" "$f"; done
tar -C "$OUT" -czf "$OUT/recipes-logs.tar.gz" "recipes-$EXPERIMENT" && rm -rf "${OUT:?}/recipes-$EXPERIMENT"
nvidia-smi --query-gpu=name,utilization.gpu,memory.used --format=csv,noheader
exit $status
