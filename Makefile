# The workshop's two commands: `make lab` and `make test`. Both install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8888
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: install lab test test-fast nbval bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { echo "error: Python 3.10 or newer is needed (found $$($(PYTHON) --version)); set PYTHON=python3.x"; exit 1; }
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

lab: install
	KMS_WORKSHOP_BACKEND=moto $(BIN)/jupyter lab $(ROOT_FLAG) \
		--ServerApp.root_dir=notebooks --ServerApp.port=$(PORT) \
		--LabApp.default_url=/lab/tree/01-setup-imported-cmk.ipynb

test: install
	$(BIN)/python tests/ensure_browser.py
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not browser" -x -q

bench: install
	$(BIN)/python benchmarks/envelope_bench.py
	$(BIN)/python benchmarks/account_bench.py

clean:
	rm -rf $(VENV) workshop-data .pytest_cache
