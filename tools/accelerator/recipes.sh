#!/usr/bin/env bash
# THERE (the device tool's `run`): compare training recipes on the validation split with benchmarks/recipes.py,
# each candidate trained for a whole profile budget, all candidates at once on the one GPU.
# usage: bash tools/accelerator/recipes.sh LIMIT_S EXPERIMENT:PROFILE:CANDIDATE,CANDIDATE... [EXPERIMENT:PROFILE:...]
# carry: [".whl", ".device/fer2013.tar.gz"] (tools/accelerator/prepare.sh makes them). Results: $OUT/recipes-*.{json,md}
set -uo pipefail
cd "$(dirname "$0")/../.."
LIMIT=${1:?limit in seconds}; shift
bash tools/accelerator/session.sh setup || exit 2
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH KERAS_BACKEND=jax PYTHONUNBUFFERED=1
export JAX_COMPILATION_CACHE_DIR=/tmp/jax-cache FER_KERAS_CACHE=/tmp/fer_keras_cache
jobs=0; for spec in "$@"; do jobs=$((jobs + $(echo "${spec##*:}" | tr ',' '\n' | wc -l))); done
export XLA_PYTHON_CLIENT_MEM_FRACTION=$(python3 -c "print(round(0.9 / $jobs, 3))")   # the processes share the GPU
pids=()
for spec in "$@"; do
  IFS=: read -r experiment profile candidates <<< "$spec"
  timeout "$LIMIT" python3 benchmarks/recipes.py "$experiment" --profile "$profile" --data data \
    --jobs "$(echo "$candidates" | tr ',' '\n' | wc -l)" --candidates "$candidates" --out "$OUT/recipes-$experiment.json" &
  pids+=($!)
done
status=0; for pid in "${pids[@]}"; do wait "$pid" || status=1; done
for f in "$OUT"/recipes-*/*.log; do tail -n 30 "$f" > "$f.tail" && mv "$f.tail" "$f"; done
(cd "$OUT" && tar -czf recipes-logs.tar.gz recipes-*/ && rm -rf recipes-*/)
exit $status
