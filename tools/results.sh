#!/usr/bin/env bash
# The published results, made on this machine: a queue of steps run one after another (`make results`).
#
# usage: tools/results.sh [--detach] PROFILE [STEP ...]
#   PROFILE  cpu (the published results on a CPU) or full (on an accelerator)
#   STEP     notebook:02 | notebook:01 | notebook:03 | notebook:04   execute the notebook with papermill in PROFILE: these ARE the
#                                                      recorded runs (model_cards/, figures/, metrics/, the notebook)
#            compact:<name>                             fer_keras/assets/<name>.keras (<= 16 MiB, no augmentation
#                                                      layers) + .classes.json + SHA256SUMS from the run, for any
#                                                      published model named in fer_keras/presets.py (fer7, fer4, ...)
#            photo:fer7                                 figures/astronaut_fer7_annotated.png: the published fer7 on a photo
#            default: notebook:02 compact:fer7 photo:fer7 notebook:01 compact:fer4 notebook:03 notebook:04 compact:cifar10
# A step whose outputs are already there for PROFILE is skipped (FORCE=1 redoes it), so running the same command
# again after an interruption continues the queue. An interrupted fit resumes at its last finished epoch from the
# BackupAndRestore state under artifacts/ (full/artifacts/ for full), which this script links to
# ${FER_KERAS_HOME:-~/.cache/fer_keras}/artifacts (.../full/artifacts): outside the work tree, so a new checkout on the
# same machine continues it too. The cpu profile writes model_cards/, figures/, metrics/, notebooks/ and the package's
# published models (fer_keras/assets/) and updates README's results table after each step; the full profile writes the
# same under full/ (its models in full/models/, not package data).
# --detach: run in its own process session (the terminal may close); the log is runs/results/PROFILE.log.
# COMMIT=1: commit each step's outputs as soon as it finishes.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
if [ "${1:-}" = --detach ]; then
  shift
  PROFILE=${1:?usage: tools/results.sh [--detach] PROFILE [STEP ...]}
  mkdir -p runs/results
  setsid nohup bash "$REPO/tools/results.sh" "$@" >> "runs/results/$PROFILE.log" 2>&1 < /dev/null &
  echo "started the $PROFILE queue (process group $!); follow it with: tail -f runs/results/$PROFILE.log"
  exit 0
fi
PROFILE=${1:?usage: tools/results.sh [--detach] PROFILE [STEP ...]}; shift
STEPS=("$@"); [ ${#STEPS[@]} -gt 0 ] || STEPS=(notebook:02 compact:fer7 photo:fer7 notebook:01 compact:fer4 notebook:03 notebook:04 compact:cifar10)
PY=${PYTHON:-$REPO/.venv/bin/python}
HOME_DIR=${FER_KERAS_HOME:-$HOME/.cache/fer_keras}
export FER_KERAS_DATA=${FER_KERAS_DATA:-$REPO/data} PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
declare -A NOTEBOOKS=([01]=01_fer4_happy_sad_neutral_surprise [02]=02_fer7_all_emotions [03]=03_fashion_mnist
  [04]=04_cifar10)
declare -A EXPERIMENTS=([01]="fer4" [02]="fer7" [03]="fashion_mlp fashion_cnn" [04]="cifar10")
say() { echo "=== $(date -u '+%Y-%m-%d %H:%M:%S UTC') $*"; }

case "$PROFILE" in cpu|full) ;; *) echo "error: PROFILE must be cpu or full (got '$PROFILE')" >&2; exit 2 ;; esac
BASE=$([ "$PROFILE" = cpu ] && echo . || echo full)   # where the profile's runs write (fer_keras default_out_dir)
NB_DIR=$([ "$PROFILE" = cpu ] && echo notebooks || echo full/notebooks)   # the executed notebooks
MODELS=$([ "$PROFILE" = cpu ] && echo fer_keras/assets || echo full/models)   # the published models (tools/accelerator/publish.py)
[ -x "$PY" ] || { echo "error: $PY not found: run 'make install' first" >&2; exit 2; }
PRESETS=$("$PY" -c "from fer_keras.presets import PRESETS; print(' '.join(PRESETS))")   # the published models' names
for step in "${STEPS[@]}"; do
  case "$step" in
    notebook:0[1-4]|photo:fer4|photo:fer7) ;;
    compact:*) [[ " $PRESETS " == *" ${step#compact:} "* ]] \
      || { echo "error: '${step#compact:}' is not a published model: add it to fer_keras/presets.py (now: $PRESETS)" >&2; exit 2; } ;;
    *) echo "error: unknown step '$step' (notebook:01|02|03|04, compact:<preset: $PRESETS>, photo:fer7)" >&2; exit 2 ;;
  esac
done
mkdir -p "$HOME_DIR/$BASE/artifacts" "$BASE" "$NB_DIR" runs/results
LOCK=$HOME_DIR/results-$PROFILE.lock
exec 9> "$LOCK"
flock -n 9 || { echo "error: a $PROFILE queue is already running (lock $LOCK): follow runs/results/$PROFILE.log" >&2; exit 2; }
if [ ! -e "$BASE/artifacts" ]; then
  ln -s "$(realpath "$HOME_DIR/$BASE/artifacts")" "$BASE/artifacts"
elif [ ! -L "$BASE/artifacts" ]; then
  echo "note: $BASE/artifacts is a folder here, not a link to $HOME_DIR: resume state stays in this checkout"
fi

recorded() {  # EXPERIMENT... : true when every $BASE/metrics/<exp>.json is a run of PROFILE
  "$PY" - "$PROFILE" "$BASE" "$@" <<'EOF'
import json, sys
from pathlib import Path
profile, base, names = sys.argv[1], sys.argv[2], sys.argv[3:]
paths = [Path(base) / "metrics" / f"{name}.json" for name in names]
sys.exit(0 if all(p.is_file() and json.loads(p.read_text()).get("profile") == profile for p in paths) else 1)
EOF
}

published() {  # EXPERIMENT: the compact model exists and the run's metrics point at it
  [ -f "$MODELS/$1.keras" ] && recorded "$1" && grep -q '"published_model"' "$BASE/metrics/$1.json"
}

done_already() {
  [ "${FORCE:-0}" = 1 ] && return 1
  case "$1" in
    notebook:*) local nb=${1#notebook:}; recorded ${EXPERIMENTS[$nb]} \
                  && grep -q "Profile:  $PROFILE" "$NB_DIR/${NOTEBOOKS[$nb]}.ipynb" ;;
    compact:*) published "${1#compact:}" ;;
    photo:*) local png=$BASE/figures/astronaut_${1#photo:}_annotated.png; [ -f "$png" ] && [ "$png" -nt "$MODELS/${1#photo:}.keras" ] ;;
  esac
}

outputs_of() {
  case "$1" in
    notebook:*) local nb=${1#notebook:} e; echo "$NB_DIR/${NOTEBOOKS[$nb]}.ipynb"
                for e in ${EXPERIMENTS[$nb]}; do echo "$BASE/model_cards/$e.md $BASE/metrics/$e.json $BASE/figures/${e}_*.png"; done ;;
    compact:*) local e=${1#compact:} b=$BASE
               echo "$MODELS/$e.keras $MODELS/$e.classes.json $MODELS/SHA256SUMS $b/model_cards/$e.md $b/metrics/$e.json" ;;
    photo:*) echo "$BASE/figures/astronaut_${1#photo:}_annotated.png" ;;
  esac
  [ "$PROFILE" = cpu ] && echo README.md   # its results table follows metrics/ (tests check that they agree)
}

run_step() {
  case "$1" in
    notebook:*)
      local name=${NOTEBOOKS[${1#notebook:}]:?unknown notebook ${1#notebook:} (01, 02, 03 or 04)}
      local tmp; tmp=$(mktemp "runs/results/$name.XXXX.ipynb")
      # The committed notebooks have no injected-parameters cell: the profile comes from FER_KERAS_PROFILE.
      FER_KERAS_PROFILE=$PROFILE "$PY" -m papermill "notebooks/$name.ipynb" "$tmp" --cwd notebooks \
        --log-output --no-progress-bar \
        && chmod 644 "$tmp" && mv "$tmp" "$NB_DIR/$name.ipynb" && return 0
      echo "the notebook as far as it ran: $tmp"; return 1 ;;
    compact:*) "$PY" tools/accelerator/publish.py --base "$BASE" --data "$FER_KERAS_DATA" "${1#compact:}" ;;
    photo:*)  # scikit-image's astronaut photo through `predict --annotate`, as a user would run it
      local e=${1#photo:} dir; dir=$(mktemp -d)
      "$PY" -c "import sys, skimage, PIL.Image; PIL.Image.fromarray(skimage.data.astronaut()).save(sys.argv[1])" \
        "$dir/astronaut_$e.png" \
        && "$PY" -m fer_keras predict "$MODELS/$e.keras" "$dir/astronaut_$e.png" --annotate "$dir" > /dev/null \
        && mkdir -p "$BASE/figures" && mv "$dir/astronaut_${e}_annotated.png" "$BASE/figures/"
      local rc=$?; rm -rf "$dir"; return $rc ;;
  esac
}

say "$PROFILE queue: ${STEPS[*]} (data $FER_KERAS_DATA, artifacts -> $(readlink -f artifacts))"
failed=0
for step in "${STEPS[@]}"; do
  if done_already "$step"; then say "$step: already recorded for $PROFILE, skipped (FORCE=1 redoes it)"; continue; fi
  say "$step: started"
  start=$(date +%s)
  if run_step "$step"; then
    say "$step: done in $(( ($(date +%s) - start) / 60 )) min"
    [ "$PROFILE" = cpu ] && "$PY" -m fer_keras results-table --write README.md
    if [ "${COMMIT:-0}" = 1 ]; then
      # shellcheck disable=SC2046
      git add -- $(outputs_of "$step") && git commit -q -m "Recorded $PROFILE run: $step" && say "$step: committed"
    fi
  else
    say "$step: FAILED after $(( ($(date +%s) - start) / 60 )) min (run the same command again to resume)"
    failed=$((failed + 1))
    break
  fi
done
say "$PROFILE queue finished: $failed failed"
exit $failed
