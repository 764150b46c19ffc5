# Tessera: `make demo` runs the story, `make test` runs the whole suite. Both set everything up first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: demo test test-fast setup contracts check-contracts lint-contracts fuzz bench bench-zkml typecheck clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements.lock -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

demo: setup
	$(VENV)/bin/tessera demo

test: setup
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

# the suite without the anvil-backed and slow tests
test-fast: setup
	$(PY) -m pytest -n 2 -m "not anvil and not slow" $(PYTEST_ARGS)

contracts: setup
	$(VENV)/bin/tessera contracts build

check-contracts: setup
	$(VENV)/bin/tessera contracts check

# Slither over contracts/ from the pinned solcjs build; fails on High/Medium results not in
# contracts/slither-triage.json. Slither lives in its own venv: its web3 pins must not move the project's.
SLITHER_VENV := .venv-slither
$(SLITHER_VENV)/.installed:
	$(PYTHON) -m venv $(SLITHER_VENV)
	$(SLITHER_VENV)/bin/pip install -q --upgrade pip
	$(SLITHER_VENV)/bin/pip install -q slither-analyzer==0.11.6 crytic-compile==0.4.2
	touch $@

lint-contracts: setup $(SLITHER_VENV)/.installed
	$(PY) scripts/slither_check.py --slither $(SLITHER_VENV)/bin/slither

# every conservation state machine, as deep as FUZZ_MINUTES (default 30) allows
FUZZ_MINUTES ?= 30
fuzz: setup
	FUZZ_MINUTES=$(FUZZ_MINUTES) $(PY) scripts/fuzz.py

typecheck: setup
	$(PY) -m mypy

bench: setup
	$(PY) bench/chain_throughput.py
	$(PY) bench/market.py
	$(PY) bench/yuma.py
	$(PY) bench/subnet.py
	$(PY) bench/coprocessor.py
	$(PY) bench/cli_startup.py
	$(PY) bench/training.py

# zkML: every model x batch through the pipeline and direct ezkl (about half an hour on 2 cores)
bench-zkml: setup
	$(PY) bench/zkml.py

clean:
	rm -rf $(VENV) $(SLITHER_VENV) node_modules .pytest_cache .hypothesis
