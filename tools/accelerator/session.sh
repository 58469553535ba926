#!/usr/bin/env bash
# Run steps of the full-profile session THERE, on the accelerator machine (the device tool's `run`, in the
# repository root), or end to end on a CPU with tiny settings (TINY=1). See tools/accelerator/README.md.
#
# usage: bash tools/accelerator/session.sh STEP [STEP ...]     queue the steps and run them in order
#        bash tools/accelerator/session.sh resume                follow the running step, then the rest of the queue
#   notebook:01   papermill notebooks/01_... in the full profile (likewise 02, 03; `notebooks` = all three): the
#                 recorded runs -> model_cards/, figures/, metrics/, artifacts/, the executed notebook
#   compact:fer4  models/fer4.keras (<= 16 MiB) + .classes.json from the recorded run; its card and metrics JSON then
#                 point at it (likewise compact:fer7; `compact` = both)
#   parity        FER-4 under the full profile's settings (PARITY_EPOCHS, default 30), ImageDataGenerator feed
#                 (worker processes) vs the fast path, 2 seeds each, 4 runs in parallel -> benchmarks/results/parity-*
#   benchmark     benchmarks/pipeline.py on the device (fp32 + bf16 rows)        -> benchmarks/results/<device>-jax.*
#   train[:EXP]   python -m fer_keras train EXP --profile full (all four without :EXP): the fallback when a notebook
#                 cannot run (a notebook trains its models itself, so the two are alternatives, not both)
#   all           notebook:02 notebook:01 benchmark parity notebook:03 (the most valuable first: 15 minutes of
#                 device time hold the two FER runs and the benchmark; parity and Fashion-MNIST if time is left)
#   setup         only install the wheels, unpack the carried data and check the environment (the queue is untouched)
# Steps run one at a time, each detached in its own process session. A call hands over after CALL_BUDGET seconds
# (default 540; the device tool kills a call at 600) with exit status 100; the step goes on, and the next call,
# `resume`, made at once (the machine goes back 30 s after a call), follows it and runs the rest of the queue.
# After every step and at each hand-over, $OUT gets results.tar.gz (everything to commit, with paths as in the
# repository, plus the step logs under logs/), the compact models as fer4.keras / fer7.keras, and session.log.
# Exit status: 0 when the queue is done and every step passed, 100 at a hand-over, else the number of failed steps.
#
# Environment: OUT (set by the device tool; default runs/tiny/out with TINY=1), TINY=1 (smoke profile, 1 epoch,
# a few benchmark batches, the project's .venv, outputs under runs/), PYTHON (interpreter; default python3 there,
# .venv/bin/python with TINY=1), SITE (where .whl/ is installed; default /tmp/site there, none with TINY=1),
# CALL_BUDGET, STEP_LIMIT (seconds; default per step, ~2-3x its estimate), PARITY_EPOCHS / PARITY_JOBS /
# PARITY_WORKERS, CPU_CHECK=1 (compact: also score the committed files on the CPU).
set -uo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)
TINY=${TINY:-0}
START=$(date +%s)

if [ "$TINY" = 1 ]; then
  OUT=${OUT:-$REPO/runs/tiny/out}
  PY=${PYTHON:-$REPO/.venv/bin/python}
  SITE=${SITE:-}
  PROFILE=smoke
  BASE=$REPO/runs/smoke                 # where smoke runs write their cards, figures, metrics, models
  DATA_ROOT=$REPO/runs/tiny/data
  DATA_ARG=$DATA_ROOT
  RESULTS=$REPO/runs/tiny/results       # benchmark and parity JSON/Markdown
  EPOCHS=(--epochs 1)
  NB_PARAMS=(-p epochs 1)
  PARITY=(--epochs 1 --workers 2 --jobs 2 --out "$RESULTS/parity-tiny.json")
  BENCH=(--batches 3 --train-steps 2 --batch-size 32 --out "$RESULTS/pipeline-tiny.json")
else
  OUT=${OUT:?OUT is not set: run this through the device tool, or with TINY=1 on a CPU}
  PY=${PYTHON:-python3}
  SITE=${SITE:-/tmp/site}
  PROFILE=full
  BASE=$REPO/full                       # the full profile writes full/ (the cpu profile's results stay at the root)
  DATA_ROOT=$REPO/data                  # git-ignored; the notebooks' default data_dir (../data)
  DATA_ARG=data                         # as the cards record it: relative to the repository root
  RESULTS=$REPO/benchmarks/results      # benchmark and parity JSON/Markdown (named after the device)
  EPOCHS=()
  NB_PARAMS=()
  PARITY=(--epochs "${PARITY_EPOCHS:-30}" --workers "${PARITY_WORKERS:-8}" --jobs "${PARITY_JOBS:-4}")
  BENCH=()
  export KERAS_BACKEND=${KERAS_BACKEND:-jax} REQUIRE_ACCELERATOR=${REQUIRE_ACCELERATOR:-1}
  export JAX_COMPILATION_CACHE_DIR=/tmp/jax-cache   # the same graphs compile once across processes
fi
STAGE=$REPO/runs/accelerator            # executed notebooks (never written over the committed ones in place)
STATE=${STATE:-$STAGE/state}            # the step queue, the running step, its log (kept while the machine is warm)
KEEP=$STAGE/keep                        # copies of the outputs (git-ignored, so no call's copy of the tree drops them)
OUTPUTS="model_cards/*.md figures/*.png metrics/*.json models/*.keras models/*.classes.json"  # globbed in $BASE
mkdir -p "$OUT" "$RESULTS" "$STAGE/notebooks" "$STAGE/running" "$STAGE/failed" "$KEEP" "$DATA_ROOT" "$BASE"
if [ "${1:-}" != --run-step ]; then   # everything this call prints also goes to $OUT/session.log
  exec > >(tee -a "$OUT/session.log") 2>&1
  TEE=$!
  trap 'exec 1>&- 2>&-; wait "$TEE" 2> /dev/null' EXIT   # let tee finish before the call returns
fi
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
export FER_KERAS_CACHE=/tmp/fer_keras_cache
elapsed() { echo "$(( $(date +%s) - START )) s"; }
say() { echo "=== [$(elapsed)] $*"; }

# ---------------------------------------------------------------- setup (skips what a warm machine has)
setup_site() {
  [ -n "$SITE" ] || return 0
  [ -d .whl ] || { echo "error: .whl/ not carried: name .whl in carry (tools/accelerator/prepare.sh makes it)"; exit 2; }
  if [ "$(cat "$SITE/.installed" 2>/dev/null)" != "$(cat .whl/.complete)" ]; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl \
      || { echo "error: installing .whl/ into $SITE failed"; exit 2; }
    cp .whl/.complete "$SITE/.installed"
  fi
  export PYTHONPATH=$SITE:$REPO
  export PATH=$SITE/bin:$PATH
  # A kernel spec that runs this interpreter (with PYTHONPATH) for papermill, whatever the image provides.
  "$PY" -m ipykernel install --name python3 --prefix "$SITE/jupyter" > /dev/null 2>&1 \
    && export JUPYTER_PATH=$SITE/jupyter/share/jupyter
}

unpack() {  # every data archive carried in .device/ (whole data sets or per-folder parts), each once
  local archive name sum
  for archive in .device/*.tar .device/*.tar.gz; do
    [ -f "$archive" ] || continue
    name=$(basename "$archive"); sum=$(cksum < "$archive")
    [ "$(cat "$DATA_ROOT/.unpacked-$name" 2> /dev/null)" = "$sum" ] && continue
    tar -C "$DATA_ROOT" -xf "$archive" && echo "$sum" > "$DATA_ROOT/.unpacked-$name" && say "unpacked $name" \
      || { echo "error: cannot unpack $archive"; exit 2; }
  done
}

git_skeleton() {  # a git index for HEAD's commit, so the cards can name it (the copy has no .git)
  command -v git > /dev/null || { echo "note: git is missing: the cards will say 'commit unknown'"; return 0; }
  if ! git rev-parse --verify -q HEAD > /dev/null 2>&1; then
    [ -f .device/git-skeleton.pack ] || { echo "note: .device/git-skeleton.pack not carried: commit unknown"; return 0; }
    git init -q && git config core.fileMode false && git index-pack --stdin < .device/git-skeleton.pack > /dev/null \
      && git update-ref HEAD "$(cat .device/git-head)" && git read-tree HEAD && git update-index -q --refresh
  fi
  # The runs rewrite these (committed outputs, not code): a card written after another must not call the tree dirty.
  git ls-files -z -- model_cards figures metrics models full benchmarks/results notebooks \
    | xargs -0 -r git update-index --skip-worktree
  echo "git: HEAD $(git rev-parse --short HEAD), $(git status --porcelain --untracked-files=no | wc -l) file(s) differ"
}

setup() {
  say "setup (TINY=$TINY, profile $PROFILE, python $PY)"
  command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  setup_site
  [ -n "${PYTHONPATH:-}" ] || export PYTHONPATH=$REPO
  if [ "$TINY" = 1 ]; then export PATH=$REPO/.venv/bin:$PATH FER_KERAS_DATA=$DATA_ROOT; else git_skeleton; fi
  restore
  unpack
  "$PY" - <<'EOF' || { echo "error: the environment cannot run fer_keras (above)"; exit 2; }
import importlib.metadata as md, os, keras, fer_keras
from fer_keras.runinfo import collect_run_info, has_accelerator
info = collect_run_info()
print(f"{info['device']} | backend {info['backend']} {info['backend_version']} | keras {keras.__version__} | "
      f"Python {info['python']} | git {str(info.get('git_commit'))[:12]} dirty={info.get('git_dirty')}")
print(" | ".join(f"{d} {md.version(d)}" for d in ("keras-tuner", "papermill", "ipykernel", "huggingface_hub", "numpy")))
if os.environ.get("REQUIRE_ACCELERATOR") == "1" and not has_accelerator():
    raise SystemExit("error: Keras sees no accelerator (a full-profile run would train on the CPU); check the JAX log above")
EOF
}

# The outputs go where they are committed (model_cards/, figures/, metrics/, models/), folders that git does not
# ignore: each call's fresh copy of the working tree may drop them there, so every step's outputs are copied to
# $KEEP (ignored, kept while the machine is warm) as soon as it ends, and put back at the start of each call.
stash() { (cd "$BASE" && for p in $OUTPUTS; do [ -f "$p" ] && cp -p --parents "$p" "$KEEP/"; done; true); }
restore() { [ -d "$KEEP" ] && cp -rp "$KEEP/." "$BASE/"; true; }

# ---------------------------------------------------------------- steps
declare -A NOTEBOOKS=([01]=01_fer4_happy_sad_neutral_surprise [02]=02_fer7_all_emotions [03]=03_fashion_mnist)

run_notebook() {  # 01 | 02 | 03
  local name=${NOTEBOOKS[$1]:?unknown notebook $1 (01, 02 or 03)}
  # The committed notebooks have no injected-parameters cell: the profile comes from FER_KERAS_PROFILE.
  # A notebook that fails part-way is kept under failed/, never among the notebooks to commit.
  rm -f "$STAGE/notebooks/$name.ipynb" "$STAGE/failed/$name.ipynb"
  FER_KERAS_PROFILE=$PROFILE "$PY" -m papermill "notebooks/$name.ipynb" "$STAGE/running/$name.ipynb" \
    --cwd notebooks --log-output --no-progress-bar "${NB_PARAMS[@]}" \
    && mv "$STAGE/running/$name.ipynb" "$STAGE/notebooks/" && return 0
  mv "$STAGE/running/$name.ipynb" "$STAGE/failed/" 2> /dev/null
  return 1
}

run_step() {
  case "$1" in
    parity) "$PY" benchmarks/parity_full.py --data "$DATA_ARG" --profile "$PROFILE" "${PARITY[@]}" ;;
    benchmark) "$PY" benchmarks/pipeline.py --data "$DATA_ARG" --cache-dir /tmp/fer_keras_bench "${BENCH[@]}" ;;
    notebook:*) run_notebook "${1#notebook:}" ;;
    notebooks) run_notebook 01 && run_notebook 02 && run_notebook 03 ;;
    train) for e in fer4 fer7 fashion_mlp fashion_cnn; do run_step "train:$e" || return 1; done ;;
    train:*) "$PY" -m fer_keras train "${1#train:}" --profile "$PROFILE" --data "$DATA_ARG" --out "$BASE" \
               --quiet "${EPOCHS[@]}" ;;
    compact) run_step compact:fer4 && run_step compact:fer7 ;;
    compact:*) "$PY" tools/accelerator/publish.py --base "$BASE" --data "$DATA_ARG" "${1#compact:}" \
                 $( [ "${CPU_CHECK:-0}" = 1 ] && echo --cpu-check ) ;;
    *) echo "error: unknown step '$1' (parity, benchmark, notebook:01|02|03, notebooks, train[:EXP], compact)"; return 2 ;;
  esac
}

# ---------------------------------------------------------------- collect into $OUT (after every step)
collect() {  # results.tar.gz with repository paths; logs and failed notebooks under the ignored runs/accelerator/
  local list=$OUT/.files tmp=$OUT/.results.tar.gz extra=() rel
  local base; base=$(realpath --relative-to="$REPO" "$BASE")   # list repository paths (full/..., runs/smoke/...)
  (cd "$BASE" && for p in $OUTPUTS; do [ -f "$p" ] && [ "${p%.keras}" = "$p" ] && echo "$base/$p"; done) > "$list"
  [ -n "$(ls "$STAGE/notebooks" 2> /dev/null)" ] && extra+=(-C "$STAGE" notebooks)
  for dir in "$STATE/logs" "$STAGE/failed" "$RESULTS"; do
    rel=$(realpath --relative-to="$REPO" "$dir")
    [ -n "$(ls "$dir" 2> /dev/null)" ] && extra+=(-C "$REPO" "$rel")
  done
  # the executed notebooks go beside the run's cards (full/notebooks/), never over the committed cpu notebooks
  tar -czf "$tmp" --transform "s,^notebooks/,$base/notebooks/," -C "$REPO" -T "$list" "${extra[@]}" \
    && mv "$tmp" "$OUT/results.tar.gz"
  rm -f "$list"
  for e in fer4 fer7; do
    [ -f "$BASE/models/$e.keras" ] && cp "$BASE/models/$e.keras" "$OUT/$e.keras"
  done
  local big; big=$(find "$OUT" -maxdepth 1 -type f -size +16M)
  [ -z "$big" ] || echo "WARNING: over 16 MiB, will not come back: $big"
}

# ---------------------------------------------------------------- the queue: steps run detached, calls resume them
# Each step runs in its own process session (setsid), so it outlives a device call that hands over before the
# tool's 10-minute kill: the call returns after CALL_BUDGET seconds with exit status 100, and the next call,
# `session.sh resume` (within 30 s, while the machine is warm), follows the same step and then the rest.
SCRIPT=$REPO/tools/accelerator/session.sh
BUDGET=${CALL_BUDGET:-540}

step_limit() {  # seconds after which a step is stopped (a hung worker must not eat the session): ~2-3x the estimate
  [ -n "${STEP_LIMIT:-}" ] && { echo "$STEP_LIMIT"; return; }
  [ "$TINY" = 1 ] && { echo 900; return; }
  case "$1" in
    notebook:03|train:fashion_mlp|train) echo 1200 ;;
    notebook:*|notebooks|train:*) echo 900 ;;
    parity|benchmark) echo 600 ;;
    *) echo 300 ;;
  esac
}

launch() {  # step: start it detached, bounded by step_limit; its output goes to $STATE/logs/<step>.log
  local log; log=$STATE/logs/${1//:/-}.log
  rm -f "$STATE/rc" "$STATE/pid" && echo "$1" > "$STATE/current" && date +%s > "$STATE/t0"
  setsid bash -c 'echo $$ > "$3/pid"; timeout -k 30 "$4" bash "$1" --run-step "$2"; echo $? > "$3/rc"' \
    _ "$SCRIPT" "$1" "$STATE" "$(step_limit "$1")" > "$log" 2>&1 < /dev/null &
  echo "$log" > "$STATE/log"
}

follow() {  # wait for the current step, streaming its log; 0 when it ended, 1 when this call's time is up
  local log; log=$(cat "$STATE/log")
  tail -n +1 -F "$log" 2> /dev/null & local tailer=$!
  while [ ! -f "$STATE/rc" ]; do
    local pid; pid=$(cat "$STATE/pid" 2> /dev/null)
    if [ -n "$pid" ] && ! kill -0 "$pid" 2> /dev/null; then
      sleep 1; [ -f "$STATE/rc" ] || echo 137 > "$STATE/rc"   # the step's process is gone without a status
      break
    fi
    if [ -z "$pid" ] && [ $(( $(date +%s) - $(cat "$STATE/t0") )) -gt 60 ]; then
      echo 127 > "$STATE/rc"; break                              # it never started
    fi
    if [ $(( $(date +%s) - START )) -ge "$BUDGET" ]; then kill "$tailer" 2> /dev/null; return 1; fi
    sleep 2
  done
  sleep 1; kill "$tailer" 2> /dev/null; wait "$tailer" 2> /dev/null
  return 0
}

expand() {  # steps as given, with `all` spelled out
  for step in "$@"; do
    if [ "$step" = all ]; then
      printf '%s\n' notebook:02 notebook:01 benchmark parity notebook:03
    else echo "$step"; fi
  done
}

if [ "${1:-}" = --run-step ]; then                 # inside launch(): the environment is inherited
  run_step "$2"; rc=$?; mkdir -p "$KEEP"; stash; exit $rc
fi
[ $# -gt 0 ] || { sed -n '2,29p' "$0"; exit 2; }
mkdir -p "$STATE/logs"
if [ "$1" = setup ]; then setup; say "setup done (the queue is untouched)"; exit 0; fi
if [ "$1" = resume ]; then
  [ -f "$STATE/current" ] || [ -s "$STATE/queue" ] || echo "nothing to resume: no step running or queued"
elif [ -f "$STATE/current" ] && [ ! -f "$STATE/rc" ]; then
  echo "error: step $(cat "$STATE/current") is still running: call 'session.sh resume'"; exit 2
else
  expand "$@" > "$STATE/queue"; rm -f "$STATE/current" "$STATE/rc"; : > "$STATE/failed"
fi
setup
while :; do
  if [ ! -f "$STATE/current" ]; then
    step=$(head -n 1 "$STATE/queue"); [ -n "$step" ] || break
    sed -i 1d "$STATE/queue"; say "step $step"; launch "$step"
  else
    step=$(cat "$STATE/current"); say "following step $step (started $(( $(date +%s) - $(cat "$STATE/t0") )) s ago)"
  fi
  if ! follow; then
    collect
    say "HAND-OVER: step $step still running ($(( $(date +%s) - $(cat "$STATE/t0") )) s so far); queued next:" \
      "$(tr '\n' ' ' < "$STATE/queue")- call 'bash tools/accelerator/session.sh resume' now"
    exit 100
  fi
  rc=$(cat "$STATE/rc"); took=$(( $(date +%s) - $(cat "$STATE/t0") ))
  [ "$rc" = 124 ] && say "step $step stopped at its limit of $(step_limit "$step") s (STEP_LIMIT overrides)"
  if [ "$rc" = 0 ]; then say "step $step done in $took s"; else say "step $step FAILED (exit $rc) after $took s"
    echo "$step" >> "$STATE/failed"; fi
  rm -f "$STATE/current" "$STATE/rc"
  collect
done
failed=$(wc -l < "$STATE/failed")
say "finished; failed steps: $failed $(tr '\n' ' ' < "$STATE/failed"); \$OUT: $(cd "$OUT" && ls -m)"
exit "$failed"
