# One-command setup and tests. `make setup` is idempotent; `make test` runs setup first when needed.
SHELL := /bin/bash
PY := .venv/bin/python
PIP := .venv/bin/pip
STAMP := .venv/.imcpnn-setup-stamp
# The CPU build of torch (docs/toolchain.md); installed before the project so that `torch>=2.2` is already met and pip
# does not pull a multi-GB CUDA build.
# GPU: give pip a CUDA build instead, matching your driver (index URLs on pytorch.org), e.g.
#   make setup TORCH_PIN="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126"
# or install one into .venv beforehand: setup keeps any torch that already imports. `imc-extract doctor` shows which
# build is in use (CPU or CUDA x.y); configs with `device: auto` (the default) then train and evaluate on the GPU.
TORCH_PIN ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: setup setup-layout test test-heavy test-fast demo demo-digits doctor clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@if ! command -v ngspice >/dev/null || ! ldconfig -p | grep -q 'libngspice.so '; then \
	  echo "== installing ngspice + libngspice (apt-get)"; \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq ngspice libngspice0 libngspice0-dev >/dev/null; \
	fi
	@test -x $(PY) || python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q $(TORCH_PIN)
	$(PIP) install -q -e '.[test]'
	.venv/bin/imc-extract pdk install
	@touch $(STAMP)

# Layout, LVS and parasitic extraction (docs/layout.md), not part of `make setup` (about 250 MB): Debian's klayout
# (the executable that runs the LVS deck), KLayout's Python module (the [layout] extra, for drawing and for the 2.5D
# engine) and klayout-pex, whose metadata asks for Python >= 3.12 while it runs on 3.11: its wheel is fetched for
# 3.12 and installed without the metadata checks.
KPEX_VERSION ?= 0.6.12
setup-layout: setup
	@if ! command -v klayout >/dev/null; then \
	  echo "== installing klayout (apt-get)"; \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq klayout >/dev/null; \
	fi
	$(PIP) install -q -e '.[test,layout]'
	@if ! $(PY) -c "import klayout_pex" 2>/dev/null; then \
	  tmp=$$(mktemp -d) && \
	  $(PIP) download -q --no-deps --python-version 3.12 --only-binary=:all: klayout-pex==$(KPEX_VERSION) -d $$tmp && \
	  $(PIP) install -q --no-deps --ignore-requires-python $$tmp/klayout_pex-$(KPEX_VERSION)-py3-none-any.whl; \
	  status=$$?; rm -rf $$tmp; exit $$status; \
	fi

# pytest writes its report only when the session ends normally: a test that ends the process early (os._exit(0))
# would otherwise pass for a complete run. Each target keeps its own report, so the per-test times of `make test`
# survive `make test-heavy`; --durations prints the slowest tests, to see what belongs behind the heavy marker.
define run_pytest
	@rm -f $(1)
	$(PY) -m pytest -q -m "$(2)" --durations=15 --junitxml=$(1) $(PYTEST_ARGS)
	@test -s $(1) || { echo "error: the test run ended without pytest's report: a test ended the process early"; exit 1; }
endef

test: setup
	$(call run_pytest,.pytest-report.xml,not heavy)

# the heaviest SPICE checks (whole extractions at the extreme corners and temperatures, the slowest layout checks):
# minutes each; CI runs them after `make test`
test-heavy: setup
	$(call run_pytest,.pytest-heavy-report.xml,heavy)

test-fast: setup
	$(call run_pytest,.pytest-fast-report.xml,not slow)

doctor: setup
	.venv/bin/imc-extract doctor

demo: setup
	bash scripts/demo.sh

demo-digits: setup
	bash scripts/demo_digits.sh

clean-venv:
	rm -rf .venv
