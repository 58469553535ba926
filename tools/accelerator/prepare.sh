#!/usr/bin/env bash
# Prepare the accelerator session HERE, on the CPU machine, from the repository the device tool sends
# (the lead's checkout). Writes only git-ignored paths:
#   .whl/                          Python 3.12 x86_64 wheels the accelerator image lacks (keras, keras-tuner,
#                                  papermill + the Jupyter kernel stack, huggingface_hub as pinned here)
#   .device/fer2013.tar.gz         FER-2013 from the data root (the device sees only the repository); packed per
#                                  class folder instead when the working tree leaves too little room (plan.py)
#   .device/fashion-mnist.tar      the four Fashion-MNIST IDX files
#   .device/git-skeleton.pack      HEAD's commit and tree objects (a few KB): the device rebuilds a git index
#                                  from it, so the cards record this commit and whether the tree was dirty
#   .device/plan.json              the device calls, each within the 64 MiB transfer limit; also printed
#
# usage: tools/accelerator/prepare.sh            (data root: $FER_KERAS_DATA, else ../shared/data)
#        FORCE=1 tools/accelerator/prepare.sh    (download and pack again)
# needs: network to PyPI, the project's .venv (make install), git.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
HERE=tools/accelerator
PY=${PYTHON:-.venv/bin/python}
DATA=${FER_KERAS_DATA:-../shared/data}
# Pinned as in requirements.txt; their dependencies are pinned by this .venv's `pip freeze`.
TOP="keras==3.15.1 keras-tuner==1.4.8 papermill==2.7.0 ipykernel==7.4.0 nbclient==0.11.0 nbformat==5.11.1 huggingface_hub==2.4.0"
KEEP="keras keras-tuner huggingface-hub"        # carried even where the image has a version: these shape the results
SKIP="debugpy jedi parso"                        # optional at run time (ipykernel's debugger, IPython's completer)
PLATFORMS="--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_26_x86_64
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64"

[ -x "$PY" ] || { echo "error: $PY not found: run 'make install' first (or set PYTHON=...)" >&2; exit 2; }
[ -d "$DATA/fer2013/train" ] && [ -d "$DATA/fer2013/test" ] \
  || { echo "error: $DATA/fer2013/{train,test} not found: set FER_KERAS_DATA to the data root" >&2; exit 2; }
[ -f "$DATA/fashion-mnist/train-images-idx3-ubyte.gz" ] \
  || { echo "error: $DATA/fashion-mnist/*-idx?-ubyte.gz not found: set FER_KERAS_DATA to the data root" >&2; exit 2; }
for path in .whl .device; do
  git check-ignore -q "$path/x" || { echo "error: $path/ is not git-ignored (.gitignore needs /$path/)" >&2; exit 2; }
done
[ "${FORCE:-0}" = 1 ] && rm -rf .whl .device
mkdir -p .device

normalise() { tr 'A-Z_.' 'a-z--'; }

# ---- wheels
if [ ! -f .whl/.complete ] || [ "$(cat .whl/.complete)" != "$TOP" ]; then
  rm -rf .whl && mkdir -p .whl
  tmp=$(mktemp -d)
  "$PY" -m pip freeze --exclude-editable | grep -v ' @ ' > "$tmp/constraints.txt"
  # Resolve the whole dependency tree for the device's Python 3.12 without installing anything.
  # shellcheck disable=SC2086
  "$PY" -m pip install -q --dry-run --ignore-installed --report "$tmp/report.json" --only-binary=:all: \
    --python-version 3.12 --implementation cp $PLATFORMS --target "$tmp/none" -c "$tmp/constraints.txt" $TOP \
    2>&1 | grep -v "^WARNING: Location" || true
  "$PY" - "$tmp/report.json" > "$tmp/resolved.txt" <<'EOF'
import json, sys
for item in json.load(open(sys.argv[1]))["install"]:
    print(item["metadata"]["name"], item["metadata"]["version"])
EOF
  grep -v '^#' "$HERE/image-packages.txt" | normalise > "$tmp/image.txt"
  : > .whl/packages.txt
  while read -r name version; do
    key=$(echo "$name" | normalise)
    if echo " $SKIP " | grep -q " $key "; then continue; fi
    if grep -qx "$key" "$tmp/image.txt" && ! echo " $KEEP " | grep -q " $key "; then continue; fi
    echo "$name==$version" >> .whl/packages.txt
  done < "$tmp/resolved.txt"
  # shellcheck disable=SC2086,SC2046
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp $PLATFORMS \
    -d .whl $(cat .whl/packages.txt) 2>&1 | grep -v "^WARNING: Location" || true
  [ "$(ls .whl/*.whl | wc -l)" = "$(wc -l < .whl/packages.txt)" ] \
    || { echo "error: expected $(wc -l < .whl/packages.txt) wheels in .whl/, got $(ls .whl/*.whl | wc -l)" >&2; exit 1; }
  rm -rf "$tmp"
  echo "$TOP" > .whl/.complete
fi
echo "wheels: $(ls .whl/*.whl | wc -l) in .whl/ ($(du -sh .whl | cut -f1)): $(tr '\n' ' ' < .whl/packages.txt)"

# ---- HEAD's commit and trees (no blobs): always fresh, so the cards name the commit being run
{ git rev-parse HEAD; git rev-parse 'HEAD^{tree}'; git ls-tree -r -t HEAD | awk '$2 == "tree" {print $3}'; } \
  | git pack-objects --stdout -q > .device/git-skeleton.pack
git rev-parse HEAD > .device/git-head
dirty=$(git status --porcelain --untracked-files=no | wc -l)
[ "$dirty" = 0 ] || echo "note: $dirty tracked file(s) differ from HEAD: the cards will say 'with uncommitted changes'"

# ---- the data archives and the device calls, within the 64 MiB each call may carry (tools/accelerator/plan.py)
"$PY" "$HERE/plan.py" --data "$DATA"
