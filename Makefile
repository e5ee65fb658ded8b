# provgate — `make run` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml requirements-nodeps.txt constraints.txt | cksum | cut -d' ' -f1)
# Real face photos for the face tests and calibration (face_recognition's own test images).
PHOTOS := $(VENV)/share/face-photos/.unpacked
# checkov pins old versions of common packages, so it lives in its own virtualenv.
TOOLS  := .venv-tools
CHECKOV_VERSION := 3.3.30
TOOLS_STAMP := $(TOOLS)/.installed-checkov-$(CHECKOV_VERSION)

.PHONY: install run test lint bench bench-deps clean

$(STAMP): pyproject.toml requirements-nodeps.txt constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]' -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-nodeps.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

$(PHOTOS): $(STAMP)
	@mkdir -p $(VENV)/share/sdist $(VENV)/share/face-photos
	$(BIN)/python -m pip download --quiet --no-deps --no-binary :all: 'face_recognition==1.3.0' -d $(VENV)/share/sdist
	tar xzf $(VENV)/share/sdist/face_recognition-1.3.0.tar.gz -C $(VENV)/share/face-photos --strip-components=3 \
	  face_recognition-1.3.0/tests/test_images/
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

install: $(STAMP) $(TOOLS_STAMP) $(CHROMIUM) $(PHOTOS)

run: $(STAMP)
	$(BIN)/provgate serve --embedded --host 127.0.0.1 --port 8000

test: $(STAMP) $(TOOLS_STAMP) $(CHROMIUM) $(PHOTOS)
	PROVGATE_CHECKOV=$(CURDIR)/$(TOOLS)/bin/checkov PROVGATE_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[lint]' -c constraints.txt
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy schemas gateway classifiers provenance generator consent

bench-deps: $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps 'invisible-watermark==0.2.0'
	$(BIN)/python -m pip install --quiet PyWavelets -c constraints.txt

bench: $(STAMP) $(PHOTOS) bench-deps
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/admission.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/watermark.py
	$(BIN)/python bench/signing.py
	$(BIN)/python bench/console.py
	$(BIN)/python bench/generators.py
	$(BIN)/python bench/faces_calibrate.py
	$(BIN)/python bench/faces.py
	$(BIN)/python bench/prompts.py
	$(BIN)/python bench/output_check.py

clean:
	rm -rf $(VENV) $(TOOLS) .provgate .pytest_cache
