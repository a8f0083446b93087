# Everything runs from a project-local virtualenv in .venv.
VENV        := .venv
PY          := $(VENV)/bin/python
PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check
PYTEST_ARGS ?=

.PHONY: test demo lint

# Every command starts by importing touchlog: from compiled bytecode about 0.1 s sooner.
# Compiled here, since Python may be told not to write it where it runs
# (PYTHONDONTWRITEBYTECODE); compileall redoes only what changed.
COMPILE := $(PY) -m compileall -q domain projections cli >/dev/null

# The suite runs in one worker process per core (at most four; pytest-xdist), each test
# module whole on one worker, in its order, beside its module-wide databases and fixtures.
# PYTEST_ARGS="-n 0" runs it in this process alone.
PARALLEL := -n auto --maxprocesses 4 --dist loadscope

# The HTML report's test drives Debian's chromium: installed here where it is missing and
# apt-get can (as root); elsewhere that one test is skipped, loudly.
test: $(VENV)/.installed-dev
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "installing chromium for the HTML report's browser test"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			chromium >/dev/null; } || echo "chromium could not be installed"; \
	fi
	$(COMPILE)
	$(PY) -m pytest $(PARALLEL) $(PYTEST_ARGS)

demo: $(VENV)/.installed
	$(COMPILE)
	$(VENV)/bin/touchlog demo

# mypy sees the folders under their installed names (touchlog.domain, …) through a link tree.
lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	mkdir -p build/typecheck/touchlog
	for d in domain projections cli; do ln -sfn ../../../$$d build/typecheck/touchlog/$$d; done
	cd build/typecheck && ../../$(VENV)/bin/mypy --config-file ../../pyproject.toml \
		-p touchlog.domain -p touchlog.projections

# A half-created venv (e.g. ensurepip missing) would otherwise count as done next time.
$(PY):
	python3 -m venv $(VENV) || { rm -rf $(VENV); exit 1; }

# The stamps are newer than pyproject.toml until it changes, so reinstalling is skipped;
# the editable install picks up source changes by itself.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP_INSTALL) -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PIP_INSTALL) -e '.[dev]'
	touch $@
