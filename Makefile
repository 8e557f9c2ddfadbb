# ISLA — two commands on a fresh Debian 12 machine (as root): `make up` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: up down test lint install install-system install-python install-web screenshots bench clean

## up: install everything, start the embedded stack with the demo archive, serve it
up: install
	$(VENV)/bin/isla up

## down: stop a running `make up` from another terminal
down:
	$(VENV)/bin/isla down

## test: install what tests need, then lint and the whole suite (real Postgres, real S3)
test: install lint
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

## lint: ruff (lint + format) and mypy
lint: install-python
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy shared services deploy tests bench

install: install-system install-python install-web

# System packages: Postgres 15 + pgSphere (the embedded database), STILTS (the TAP validator),
# the venv module, Node.js + npm (build the portal's scripts), Chromium (the browser tests).
# Node.js comes from Debian only when no node/npm is on the PATH: NodeSource's nodejs package
# bundles npm and conflicts with Debian's npm, so asking apt for both would break the install.
# pgSphere 1.2.0's install script needs a fix on current Postgres 15 releases.
SYSTEM_PACKAGES := postgresql-15 postgresql-15-pgsphere stilts python3-venv python3-pip curl wget \
	chromium
NODE_PACKAGES := $(if $(shell command -v npm 2>/dev/null),,nodejs npm)
install-system:
	@if ! dpkg -s $(SYSTEM_PACKAGES) $(NODE_PACKAGES) >/dev/null 2>&1; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
			$(SYSTEM_PACKAGES) $(NODE_PACKAGES); \
	fi
	$(SUDO) $(PYTHON) deploy/pgsphere_fix.py

install-python: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[test]'
	touch $@

# The portal's scripts and styles: npm packages pinned by the lockfile, bundled by esbuild into
# the room's static/ folder (a build product, not committed); rebuilt when a source changes.
PORTAL_WEB := services/products/portal/web
PORTAL_BUNDLE := services/products/portal/static/portal.js
install-web: $(PORTAL_BUNDLE)

$(PORTAL_BUNDLE): $(PORTAL_WEB)/package.json $(PORTAL_WEB)/package-lock.json $(PORTAL_WEB)/build.mjs \
		$(wildcard $(PORTAL_WEB)/src/*)
	cd $(PORTAL_WEB) && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build
	touch $@

## screenshots: PNGs of every portal page type under docs/screenshots/ (shown in the README)
screenshots: install
	ISLA_SCREENSHOTS=docs/screenshots $(PY) -m pytest -q -p no:cacheprovider \
		tests/browser/test_portal_browser.py -k screenshots

## bench: run the benchmarks (figures and commands in docs/BENCHMARKS.md)
bench: install
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache *.egg-info
