# Set-up and checks. Each target creates .venv on first use and installs the package into it:
# torch==2.13.0 (CPU wheel) first, so nothing that depends on torch pulls another build, then ".[test]".
# The CPU wheel comes from PyTorch's CPU index (its "+cpu" build wins over PyPI's CUDA one) or from
# pip's find-links; TORCH_INDEX= (empty) leaves PyTorch's index out, e.g. where it cannot be reached.
# Only the wheel itself is looked up there; its dependencies come from the default index after.

PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ethogym-installed
CHROMIUM ?= /usr/bin/chromium
XVFB ?= /usr/bin/Xvfb
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: install demo test test-all lint clean browser

$(BIN)/python:
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "ethogym needs Python 3.11 or newer; $(PY) is " + sys.version.split()[0] + ": run make PY=python3.11 ... (or the path of a newer python)")'
	$(PY) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install --no-deps torch==2.13.0 $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e ".[test]"
	@$(BIN)/python -c 'import torch; torch.version.cuda and print("warning: torch " + torch.__version__ + " is a CUDA build (several GB); ethogym runs on the CPU build: make clean, then make with a local CPU wheel on pip'"'"'s find-links or without TORCH_INDEX=")'
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium, for the test that opens the leaderboard page in a real headless browser.
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

browser: $(CHROMIUM)

# Debian's Xvfb (a virtual X display), for the test that opens PyBullet's window (render_mode="human").
$(XVFB):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq xvfb

demo: $(STAMP)
	$(BIN)/ethogym demo

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint $(CHROMIUM) $(XVFB)
	$(BIN)/python -m pytest -q -m "not slow"

test-all: lint $(CHROMIUM) $(XVFB)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache demo_out
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
