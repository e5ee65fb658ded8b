# provgate — `make run` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
# checkov pins old versions of common packages, so it lives in its own virtualenv.
TOOLS  := .venv-tools
CHECKOV_VERSION := 3.3.30
TOOLS_STAMP := $(TOOLS)/.installed-checkov-$(CHECKOV_VERSION)

.PHONY: install run test lint bench bench-deps clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $@

$(TOOLS_STAMP):
	@test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	@touch $@

# Browser tests use Debian's Chromium (a browser download does not work on our machines).
CHROMIUM ?= /usr/bin/chromium
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
	  echo "The browser tests need Debian's chromium: sudo apt-get install chromium"; exit 1; \
	fi

install: $(STAMP) $(TOOLS_STAMP) $(CHROMIUM)

run: $(STAMP)
	$(BIN)/provgate serve --embedded --host 127.0.0.1 --port 8000

test: $(STAMP) $(TOOLS_STAMP) $(CHROMIUM)
	PROVGATE_CHECKOV=$(CURDIR)/$(TOOLS)/bin/checkov PROVGATE_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[lint]'
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy schemas gateway classifiers provenance generator consent

bench-deps: $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps 'invisible-watermark==0.2.0'
	$(BIN)/python -m pip install --quiet opencv-python-headless PyWavelets

bench: $(STAMP) bench-deps
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/admission.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/watermark.py
	$(BIN)/python bench/signing.py
	$(BIN)/python bench/console.py
	$(BIN)/python bench/generators.py

clean:
	rm -rf $(VENV) $(TOOLS) .provgate .pytest_cache
