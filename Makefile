# fer_keras: `make run` (smoke profile of every experiment) and `make test` (lint, unit tests, notebooks).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PROFILE ?= smoke
EXPERIMENTS ?= fer4 fer7 fashion_mlp fashion_cnn cifar10
# Data root: $FER_KERAS_DATA if set, else ./data if it holds the data, else ../shared/data.
FER_KERAS_DATA ?= $(if $(wildcard data/fer2013 data/fashion-mnist data/cifar10),$(CURDIR)/data,$(abspath ../shared/data))
export FER_KERAS_DATA
export TF_CPP_MIN_LOG_LEVEL ?= 2
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: install run results test browser test-browser lint notebooks lab benchmark benchmark-serve benchmark-video \
	benchmark-camera-load clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

run: install  ## train, evaluate and write cards for every experiment (PROFILE=smoke -> runs/smoke/)
	@for e in $(EXPERIMENTS); do \
	  echo "== $$e ($(PROFILE))"; \
	  $(BIN)/python -m fer_keras train $$e --profile $(PROFILE) || exit 1; \
	done
	@echo "cards: $(if $(filter cpu,$(PROFILE)),model_cards/,$(if $(filter full,$(PROFILE)),full/model_cards/,runs/$(PROFILE)/model_cards/))"

results: install  ## the published results (PROFILE=cpu on a CPU, full on an accelerator), detached; STEPS=... to choose
	bash tools/results.sh --detach $(if $(filter smoke,$(PROFILE)),cpu,$(PROFILE)) $(STEPS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint browser  ## unit tests on the real data, the service over HTTP, its page in Chromium, notebooks under nbval
	FER_KERAS_PROFILE=smoke $(BIN)/python -m pytest -n 2 --dist loadfile --durations=15  # two workers; a file (a notebook) stays on one; the 15 slowest tests listed

browser:  ## Debian's headless Chromium and chromedriver for the page test (apt-get, only when missing)
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium chromium-driver; }

test-browser: install browser  ## only the demo page of `serve` in headless Chromium
	FER_KERAS_PROFILE=smoke $(BIN)/python -m pytest -m browser -v tests/test_browser.py

notebooks: install  ## re-execute the committed notebooks top to bottom (PROFILE=smoke or full)
	@for nb in notebooks/0*.ipynb; do \
	  tmp=$$(mktemp --suffix .ipynb); \
	  FER_KERAS_PROFILE=$(PROFILE) $(BIN)/papermill $$nb $$tmp --cwd notebooks && chmod 644 $$tmp && mv $$tmp $$nb || exit 1; \
	done

lab: install  ## open the notebooks in JupyterLab with the data root set
	$(BIN)/jupyter lab notebooks/

benchmark: install  ## input-pipeline benchmark (see benchmarks/README.md)
	$(BIN)/python benchmarks/pipeline.py

benchmark-serve: install  ## latency of predict_faces and POST /predict (see benchmarks/README.md)
	$(BIN)/python benchmarks/serve.py

benchmark-video: install  ## frames/s of predict on a 640x480 video and the cost of each part (see benchmarks/README.md)
	$(BIN)/python benchmarks/video.py

benchmark-camera-load: install  ## 1, 4, 16 camera clients for 60 s each against serve (see benchmarks/README.md)
	$(BIN)/python benchmarks/camera_load.py

clean:
	rm -rf runs artifacts .pytest_cache
