# Two commands from a fresh clone: `make demo` and `make test`. Both set up .venv/ first.
PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

FUZZ_SECONDS ?= 60

.PHONY: setup system demo test lint bench fuzz clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -c constraints.txt -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $@

system:
	bash scripts/install-system-deps.sh

demo: setup
	$(VENV)/bin/sandbox demo

test: setup system
	$(VENV)/bin/python -m pytest -q

lint: setup
	$(VENV)/bin/ruff check sandbox dashboards hw tests benchmarks fuzz

bench: setup
	$(VENV)/bin/python benchmarks/replay.py

# atheris over every capture reader, protocol parser and decoder, FUZZ_SECONDS each (fuzz/run.py)
fuzz: setup
	$(VENV)/bin/python -m pip install -q -c constraints.txt -e '.[fuzz]'
	$(VENV)/bin/python -m fuzz.run --seconds $(FUZZ_SECONDS)

clean:
	rm -rf $(VENV) out .pytest_cache
