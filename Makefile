# mlenb: the README's commands. `make test` and `make demo` set everything up on a fresh machine.
SHELL := bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch first, pinned, so that nothing else resolves it. Which build pip takes depends on where it looks: from
# PyPI on Linux, the CUDA build (several GB); a local wheel of the CPU build where one is on pip's path. Pick one:
# `make test TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"` (or .../whl/cu128 for CUDA 12.8).
TORCH ?= torch==2.13.0
TORCH_PIP_ARGS ?=
PIP := $(BIN)/python -m pip install -q --disable-pip-version-check
STAMP := $(VENV)/.installed
APP_STAMP := $(VENV)/.app-installed


.PHONY: setup chromium test test-fast check-sync export clean-nbs readme tutorials lab demo docs bench clean

setup: $(STAMP) chromium

# The browser tests drive Debian's Chromium (Playwright cannot download its own browser here).
chromium:
	@test -x /usr/bin/chromium || { echo "installing Debian's chromium for the browser tests"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq chromium >/dev/null; }

# What the panels need: torch, the package, Voila and JupyterLab (`make demo`, `make lab`).
$(APP_STAMP): settings.ini setup.py pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) "$(TORCH)" $(TORCH_PIP_ARGS)
	$(PIP) -e ".[app]"
	touch $@

# Everything the tests need besides Chromium: the oracles, nbdev, Playwright.
$(STAMP): $(APP_STAMP)
	$(PIP) -e ".[dev,app]"
	touch $@

# Small tensors run fastest on one thread, and nbdev_test runs two notebooks at once on 2 cores.
test test-fast: export OMP_NUM_THREADS := 1

# pytest on both cores: tests go one by one to two workers (a busy machine then still gives us two shares of its
# CPU). The browser tests come after, alone: each kind of page is served once and its tests run on it in order, and a
# page slowed 4x on purpose needs no other load. The slowest tests are listed, to see what a busy machine stretches.
PYTEST := $(BIN)/python -m pytest -q -p no:cacheprovider --durations=10
# A worker that dies fails the run at once with the test it ran: pytest-xdist 3.8 replaces a crashed worker under
# --dist loadgroup and then waits forever (pytest-xdist#1323), which cost a CI run its whole 90 minutes.
PYTEST_PARALLEL := $(PYTEST) -n 2 --dist loadgroup --max-worker-restart=0 -m "not browser"   # (the fuzzer's cases and summary: one group)

# Everything CI runs: export and notebooks in sync, notebook tests, pytest, then the rendered pages.
test: setup check-sync
	$(BIN)/nbdev_test --n_workers 2
	$(PYTEST_PARALLEL)
	$(PYTEST) -m browser
	$(MAKE) --no-print-directory docs

# Notebook tests and pytest without the slow cells and marks.
test-fast: setup check-sync
	$(BIN)/nbdev_test --n_workers 2
	$(PYTEST_PARALLEL) -m "not slow and not browser"

# mlenb/ and README.md are generated, notebooks committed clean: regenerating changes nothing.
check-sync: setup
	$(BIN)/python scripts/check_sync.py

export: setup
	$(BIN)/nbdev_export

clean-nbs: setup
	$(BIN)/nbdev_clean

readme: setup
	$(BIN)/python scripts/readme.py

# The tutorials are committed with their pictures: after changing one, execute it again (widget state left out).
tutorials: setup
	OMP_NUM_THREADS=1 $(BIN)/python scripts/execute_tutorials.py

lab: $(APP_STAMP)
	$(BIN)/jupyter lab --ip 127.0.0.1 --no-browser $(if $(filter 0,$(shell id -u)),--allow-root) nbs

# The panels as a Voila app on 127.0.0.1 (Ctrl-C stops it). PORT=... picks another port. Needs neither Chromium nor the dev stack.
PORT ?= 8866
demo: $(APP_STAMP)
	$(BIN)/mlenb app --port $(PORT)

# Every notebook to HTML in _docs/ with nbconvert (quarto cannot be installed here; _quarto.yml stays valid). The
# tutorials show the figures they are committed with; a tutorial page without them fails.
docs: setup
	$(BIN)/python scripts/docs.py

# The benchmarks against the peers (installed here, not for the tests), one thread, ratios in one run.
bench: setup
	$(PIP) -e ".[dev,app,bench]"
	for f in bench/*.py; do OMP_NUM_THREADS=1 $(BIN)/python $$f $(BENCH_ARGS) || exit 1; done

clean:
	rm -rf $(VENV) _docs _proc build dist *.egg-info artifacts
