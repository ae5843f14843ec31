# Two commands from a fresh clone: `make demo` and `make test`. Both set up .venv/ first.
PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
# The compiled kernels: pip builds them at install; an edited _kernels.c is rebuilt in place.
KERNELS := sandbox/index/_kernels$(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')

.PHONY: setup system demo test lint bench clean

setup: $(STAMP) $(KERNELS)

$(STAMP): pyproject.toml constraints.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -c constraints.txt -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $@

$(KERNELS): sandbox/index/_kernels.c setup.py | $(STAMP)
	$(VENV)/bin/python setup.py -q build_ext --inplace

system:
	bash scripts/install-system-deps.sh

demo: setup
	$(VENV)/bin/sandbox demo

test: setup system
	$(VENV)/bin/python -m pytest -q

lint: setup
	$(VENV)/bin/ruff check sandbox dashboards hw tests benchmarks

bench: setup
	$(VENV)/bin/python benchmarks/replay.py

clean:
	rm -rf $(VENV) out .pytest_cache
