# The two commands a newcomer needs: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SERVE_STAMP := $(VENV)/.installed-serve
STAMP := $(VENV)/.installed
NODE_DIR := tests/node
NODE_STAMP := $(NODE_DIR)/node_modules/.installed

.PHONY: install node-deps serve test lint bench bench-gpu wheelhouse clean

# Serving needs only the package itself (no torch): the preview engine, moderation, SQLite.
$(SERVE_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $(SERVE_STAMP)

# The tests need the rest: every extra, with the local CPU torch wheel first so nothing pulls a
# CUDA build.
$(STAMP): pyproject.toml $(SERVE_STAMP)
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test,postgres,s3,diffusers]'
	touch $(STAMP)

# Node tools pinned by package-lock.json: the Vercel AI SDK (tests/e2e/test_ai_sdk.py) and s3rver.
$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	npm ci --prefix $(NODE_DIR) --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

node-deps: $(NODE_STAMP)

install: $(STAMP)

serve: $(SERVE_STAMP)
	$(BIN)/reelforge serve --host 127.0.0.1 --port 8000 --data-dir ./.reelforge

# Two pytest workers: most tests wait on real servers, so two overlap well even on two cores
# (17 -> 12.5 min). A module's tests stay on one worker, sharing its servers.
test: $(STAMP) $(NODE_STAMP) lint
	$(BIN)/python -m pytest -q -n 2 --dist loadscope $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/bench_preview_render.py
	$(BIN)/python bench/bench_poll_throughput.py
	$(BIN)/python bench/bench_extension.py
	$(BIN)/python bench/bench_memory.py
	$(BIN)/python bench/bench_client_overhead.py
	$(BIN)/python bench/bench_scale_out.py
	$(BIN)/python bench/bench_load.py

# The GPU benchmark (bench/gpu/bench_wan_speed.py): on a machine with CUDA torch, transformers and
# peft; what else it needs comes from .wheels/ (see `wheelhouse`). Under 8 minutes on one H200.
bench-gpu:
	$(PYTHON) bench/gpu/bench_wan_speed.py --json bench-gpu.json

# Wheels the GPU machine lacks (it has no network), for CPython 3.12 on manylinux x86_64; run where
# there is network, then copy the repository (with .wheels/) across.
WHEELHOUSE_PINS := diffusers==0.42.1 torchao==0.18.0 av pillow importlib-metadata zipp filelock \
	requests urllib3 idna charset-normalizer certifi huggingface-hub
wheelhouse:
	$(BIN)/python -m pip download --dest .wheels --only-binary=:all: --no-deps \
		--python-version 3.12 --implementation cp --abi cp312 --abi abi3 --abi none \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
		--platform manylinux2014_x86_64 --platform any $(WHEELHOUSE_PINS)

clean:
	rm -rf $(VENV) .reelforge .pytest_cache $(NODE_DIR)/node_modules
