# The workshop's two commands: `make lab` and `make test`. Both install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
TEST_EXTRAS := test,lint
PORT   ?= 8888
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
# The lock: exact versions of everything pyproject.toml's ranges resolve to (runtime and
# [test]), used as pip constraints here, by CI (make test) and by Binder. `make lock`
# refreshes it (keeping the pins that still fit; `make lock UPGRADE=1` moves every
# package to the newest version its range allows). LOCK_PYTHON is requires-python's floor.
LOCK        := constraints.txt
LOCK_PYTHON := 3.10
UV_VERSION  := 0.13.9
NEED_PYTHON := $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { echo "error: Python 3.10 or newer is needed (found $$($(PYTHON) --version)); set PYTHON=python3.x"; exit 1; }

.PHONY: install install-test lock lab test test-unit test-fast lint bench clean

# The installer: uv where it can be had (on PATH, else pinned into the venv by pip, which
# takes seconds and makes every later install several times faster), pip otherwise; both
# install exactly the lock's versions. $(call INSTALL,ARGS...)
INSTALL = UV=$$(command -v uv || { [ -x $(BIN)/uv ] || $(BIN)/python -m pip install --quiet 'uv==$(UV_VERSION)' >/dev/null 2>&1; [ -x $(BIN)/uv ] && echo $(BIN)/uv; }); \
	if [ -n "$$UV" ]; then "$$UV" pip install --quiet --python $(BIN)/python $(1); \
	else $(BIN)/python -m pip install --quiet $(1); fi

# JupyterLab's app settings in the venv, from the file Binder's postBuild installs: no news
# pop-up, no update check, the kernel starts without a dialog (user settings still win).
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json

# `make lab` installs what the workshop needs; the test tools come with `make test`.
install: $(STAMP) $(LAB_OVERRIDES)
install-test: $(TEST_STAMP) $(LAB_OVERRIDES)

$(LAB_OVERRIDES): binder/overrides.json $(STAMP)
	mkdir -p $(@D)
	cp binder/overrides.json $@

$(STAMP): pyproject.toml $(LOCK)
	@$(NEED_PYTHON)
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(call INSTALL,-c $(LOCK) -e .)
	@touch $@

$(TEST_STAMP): $(STAMP)
	$(call INSTALL,-c $(LOCK) -e '.[$(TEST_EXTRAS)]')
	@touch $@

lock:
	@$(NEED_PYTHON)
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet 'uv==$(UV_VERSION)'
	$(BIN)/uv pip compile pyproject.toml --extra test --extra lint --universal --python-version $(LOCK_PYTHON) \
		$(if $(UPGRADE),--upgrade) --no-header --quiet --output-file $(LOCK)
	{ echo "# Constraints (lock) file: pip install -c $(LOCK) -e '.[test,lint]'. Do not edit: run make lock."; \
	  echo "# Exact versions for pyproject.toml's ranges (runtime + [test] + [lint]), universal resolution"; \
	  echo "# for Python >=$(LOCK_PYTHON) (lines with markers apply to some Python versions/platforms only)."; \
	  echo "# Made on $$($(BIN)/python -c 'import platform as p; print("Python", p.python_version(), "on", p.system(), p.machine())') with uv $(UV_VERSION) by: make lock"; \
	  echo "#   = uv pip compile pyproject.toml --extra test --extra lint --universal --python-version $(LOCK_PYTHON) --output-file $(LOCK)"; \
	  cat $(LOCK); } > $(LOCK).tmp && mv $(LOCK).tmp $(LOCK)

lab: install
	KMS_WORKSHOP_BACKEND=moto $(BIN)/jupyter lab $(ROOT_FLAG) \
		--ServerApp.root_dir=notebooks --ServerApp.port=$(PORT) \
		--LabApp.default_url=/lab/tree/01-setup-imported-cmk.ipynb

# Everything: lint, then every tier on every core (a test file stays in one process, so
# file-wide fixtures such as one serve per module are made once).
test: install-test
	$(BIN)/python tests/ensure_browser.py
	$(BIN)/python tests/ensure_esdk_cli.py
	$(MAKE) --no-print-directory lint
	$(BIN)/python -m pytest -n auto --dist loadfile

# The fast tier: in-process tests only, on every core (under a minute on 2 cores).
test-unit: install-test
	$(BIN)/python -m pytest tests/unit -m "not endpoint" -n auto --dist loadfile -q

# Everything but the system tier (browser, make lab, Binder, the book).
test-fast: install-test
	$(BIN)/python -m pytest tests/unit tests/integration tests/notebooks -n auto --dist loadfile -x -q

lint: install-test
	$(BIN)/ruff check workshop_helpers tests benchmarks book notebooks
	$(BIN)/ruff format --check workshop_helpers tests benchmarks book
	$(BIN)/mypy

bench: install
	$(BIN)/python benchmarks/envelope_bench.py
	$(BIN)/python benchmarks/account_bench.py
	$(BIN)/python benchmarks/class_bench.py --sizes 1,10,30
	$(BIN)/python benchmarks/first_cell_bench.py --runs 5

# The static site (Jupyter Book 1) from the committed notebooks and docs, into $(BOOK_DIR);
# its tools live in .venv-book/ (constraints-book.txt), made on first use.
BOOK_DIR ?= build/book
.PHONY: book
book:
	@$(NEED_PYTHON)
	$(PYTHON) tests/ensure_book.py
	.venv-book/bin/python book/build.py --out $(BOOK_DIR)

clean:
	rm -rf $(VENV) .venv-esdk-cli workshop-data .pytest_cache
