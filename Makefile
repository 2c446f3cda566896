# The two commands a newcomer needs:
#   make console   run the agent in this terminal (add ARGS=--text to type instead of speak)
#   make test      pass the tests (room-level tests run in a private network namespace: scripts/run-tests.sh)
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: console dev start test lint system-deps reset-demo lock web web-build

# The locked versions first (requirements-dev.lock, made by `make lock`), so every machine and
# every worker runs the same ones; then the project itself, which adds only what the lock lacks
# (a dependency added to pyproject.toml since: `make lock` records it).
$(VENV)/.installed: pyproject.toml requirements-dev.lock
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.lock
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# Re-pin after changing dependencies in pyproject.toml. Versions already pinned are kept; add
# UPGRADE=--upgrade to move everything to the newest allowed versions.
lock: $(VENV)/.installed
	$(VENV)/bin/uv pip compile pyproject.toml --python-version 3.11 --quiet $(UPGRADE) --output-file requirements.lock
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 --quiet $(UPGRADE) --output-file requirements-dev.lock

system-deps:
	bash scripts/install-system-deps.sh

# The customer page (web/): npm ci from the committed lockfile, then an esbuild bundle in web/dist/
# (built on install, never committed).
WEB_SOURCES := web/index.html web/build.mjs web/tsconfig.json $(wildcard web/src/*) $(wildcard web/test/*)

# --ignore-scripts: no package runs code at install (esbuild's binary comes as a plain package).
web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error

web/dist/index.html: web/node_modules/.package-lock.json $(WEB_SOURCES)
	cd web && npm run --silent build

web-build: system-deps web/dist/index.html

# The page and its token endpoint on http://127.0.0.1:8080/ (LIVEKIT_* from .env; see README).
web: web-build $(VENV)/.installed
	$(PY) -m support_tools.web

console: system-deps $(VENV)/.installed
	$(PY) agent.py console $(ARGS)

dev: $(VENV)/.installed
	$(PY) agent.py dev

start: $(VENV)/.installed
	$(PY) agent.py start

test: system-deps $(VENV)/.installed web/dist/index.html
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports
	cd web && npm test --silent
	TEST_POSTGRES_URL="$$(bash scripts/test-postgres.sh)" bash scripts/run-tests.sh $(PY) $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports

reset-demo: $(VENV)/.installed
	$(PY) -m support_tools.store reset
