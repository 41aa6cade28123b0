# mlenb: the README's commands. `make test` and `make demo` set everything up on a fresh machine.
SHELL := bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch first, pinned: a bare `torch` requirement pulls a multi-GB CUDA build. A GPU user picks
# another build, e.g. `make test TORCH=torch==2.13.0 TORCH_PIP_ARGS="--index-url <your wheel index>"`.
TORCH ?= torch==2.13.0
TORCH_PIP_ARGS ?=
STAMP := $(VENV)/.installed


.PHONY: setup chromium test test-fast check-sync export clean-nbs readme lab demo docs bench clean

setup: $(STAMP) chromium

# The browser tests drive Debian's Chromium (Playwright cannot download its own browser here).
chromium:
	@test -x /usr/bin/chromium || { echo "installing Debian's chromium for the browser tests"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq chromium >/dev/null; }

$(STAMP): settings.ini setup.py pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check "$(TORCH)" $(TORCH_PIP_ARGS)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev]"
	touch $@

# Small tensors run fastest on one thread, and nbdev_test runs two notebooks at once on 2 cores.
test test-fast: export OMP_NUM_THREADS := 1

# Everything CI runs: export and notebooks in sync, notebook tests, then pytest.
test: setup check-sync
	$(BIN)/nbdev_test --n_workers 2
	$(BIN)/python -m pytest -q -p no:cacheprovider

# Notebook tests and pytest without the slow cells and marks.
test-fast: setup check-sync
	$(BIN)/nbdev_test --n_workers 2
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow"

# mlenb/ and README.md are generated, notebooks committed clean: regenerating changes nothing.
check-sync: setup
	$(BIN)/python scripts/check_sync.py

export: setup
	$(BIN)/nbdev_export

clean-nbs: setup
	$(BIN)/nbdev_clean

readme: setup
	$(BIN)/python scripts/readme.py

lab: setup
	$(BIN)/jupyter lab --ip 127.0.0.1 --no-browser $(if $(filter 0,$(shell id -u)),--allow-root) nbs

# The panels as a Voila app on 127.0.0.1 (Ctrl-C stops it). PORT=... picks another port.
PORT ?= 8866
demo: setup
	$(BIN)/mlenb app --port $(PORT)

# Every notebook to HTML with nbconvert (quarto cannot be installed here; _quarto.yml stays valid).
docs: setup
	mkdir -p _docs
	$(BIN)/jupyter nbconvert --to html --execute --output-dir _docs nbs/[0-9]*.ipynb nbs/index.ipynb

# The benchmarks against the peers (installed here, not for the tests), one thread, ratios in one run.
bench: setup
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev,bench]"
	for f in bench/*.py; do OMP_NUM_THREADS=1 $(BIN)/python $$f $(BENCH_ARGS) || exit 1; done

clean:
	rm -rf $(VENV) _docs _proc build dist *.egg-info artifacts
