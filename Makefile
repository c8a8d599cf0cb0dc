# Two commands do everything: `make lab` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup lab test test-unit test-notebooks bench lint clean

setup: $(STAMP)

# Re-run the install only when the project's dependency files change.
$(STAMP): pyproject.toml requirements-nodeps.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(BIN)/nbstripout --install --attributes .gitattributes 2>/dev/null || true
	touch $(STAMP)

# JupyterLab refuses to run as root without --allow-root (containers, CI machines).
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: setup
	$(BIN)/jupyter lab --ip=127.0.0.1 --no-browser --notebook-dir=notebooks $(ROOT_FLAG)

test: setup
	$(BIN)/python -m pytest
	$(BIN)/python -m pytest --nbval-lax notebooks/
	$(BIN)/ruff check voicekit tests benchmarks
	$(BIN)/mypy voicekit

bench: setup
	$(BIN)/python benchmarks/standin.py
	$(BIN)/python benchmarks/chat.py

lint: setup
	$(BIN)/ruff check voicekit tests benchmarks
	$(BIN)/mypy voicekit

clean:
	rm -rf $(VENV) .pytest_cache
