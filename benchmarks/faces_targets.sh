#!/usr/bin/env bash
# Issue 24's timed targets on the idle CPU, on the published model, one after another (about 15 minutes),
# then benchmarks/README.md's faces section written again from the results. Refuses to start while a
# recorded run (papermill / tools/results.sh) uses the cores: its times would not be the machine's.
# Usage: bash benchmarks/faces_targets.sh   (from the repository root, with the project's .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
if pgrep -f "papermill|results.sh" >/dev/null; then
  echo "error: a recorded run is using the CPU (pgrep -f 'papermill|results.sh'); run this when it has finished" >&2
  exit 2
fi
MODEL=fer_keras/assets/fer7.keras
"$PY" benchmarks/detect.py
"$PY" benchmarks/runtimes.py
# the reference: the `fer` package, in a folder of its own (not a dependency of fer_keras)
FER_REF=${FER_REF:-$HOME/.cache/fer_keras/fer-reference}
[ -f "$FER_REF/fer/fer.py" ] || "$PY" -m pip install -q --no-deps --target "$FER_REF" fer==25.10.3 "setuptools<81" \
  || echo "warning: could not install fer==25.10.3 into $FER_REF: the reference is not measured" >&2
REF_ARGS=(); [ -f "$FER_REF/fer/fer.py" ] && REF_ARGS=(--fer-path "$FER_REF")
"$PY" benchmarks/serve.py --model "$MODEL" "${REF_ARGS[@]}"
"$PY" benchmarks/camera_load.py --model "$MODEL" --clients 1 4 16
"$PY" benchmarks/camera_page.py
"$PY" benchmarks/video.py --model "$MODEL"
"$PY" benchmarks/faces_section.py > /dev/null
echo "benchmarks/README.md: faces section written again; review and commit benchmarks/results/ and figures/"
