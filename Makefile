# Two commands from a fresh clone: `make demo` and `make test`. Both set up .venv/ first.
PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt requirements.lock | cksum | cut -d' ' -f1)
TEST_STAMP := $(subst .installed-,.tested-,$(STAMP))
# The compiled kernels: pip builds them at install; an edited _kernels.c is rebuilt in place.
KERNELS := sandbox/index/_kernels$(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')

# mitmproxy runs from an environment of its own: its pins conflict with ours (see mitmproxy.in)
MITM_VENV  := .venv-mitmproxy
MITM_STAMP := $(MITM_VENV)/.installed-$(shell cat mitmproxy.lock | cksum | cut -d' ' -f1)
FUZZ_SECONDS ?= 60

.PHONY: setup system demo test lint bench lock lock-mitmproxy fuzz clean

setup: $(TEST_STAMP) $(KERNELS) $(MITM_STAMP)

# Runtime dependencies exactly as locked (hashes checked), then the project itself (built with the
# locked setuptools, no build environment to download), then the live demo's clients and servers at
# the versions the suite last passed with (`make demo` needs no more).
$(STAMP): pyproject.toml constraints.txt requirements.lock
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q --require-hashes -r requirements.lock
	$(VENV)/bin/python -m pip install -q --no-build-isolation --no-deps -e .
	$(VENV)/bin/python -m pip install -q --no-build-isolation -c constraints.txt -e '.[demo]'
	rm -f $(VENV)/.installed-* && touch $@

# The test tools and the fleet extra (PostgreSQL store, Dask replay), at the versions of constraints.txt.
$(TEST_STAMP): $(STAMP)
	$(VENV)/bin/python -m pip install -q --no-build-isolation -c constraints.txt -e '.[test,demo,fleet]'
	rm -f $(VENV)/.tested-* && touch $@

$(MITM_STAMP): mitmproxy.lock
	test -x $(MITM_VENV)/bin/python || $(PYTHON) -m venv $(MITM_VENV)
	$(MITM_VENV)/bin/python -m pip install -q --upgrade pip
	$(MITM_VENV)/bin/python -m pip install -q --require-hashes -r mitmproxy.lock
	rm -f $(MITM_VENV)/.installed-* && touch $@

$(KERNELS): sandbox/index/_kernels.c setup.py | $(STAMP)
	$(VENV)/bin/python setup.py -q build_ext --inplace

system:
	bash scripts/install-system-deps.sh

# The two environments install side by side (pip mostly waits on downloads and unpacking).
demo: system
	$(MAKE) --no-print-directory -j2 $(KERNELS) $(MITM_STAMP)
	$(VENV)/bin/sandbox demo

test: setup system
	$(VENV)/bin/python -m pytest -q

lint: setup
	$(VENV)/bin/ruff check sandbox dashboards hw tests benchmarks fuzz

bench: setup
	$(VENV)/bin/python benchmarks/replay.py

# Re-pin the runtime dependencies of pyproject.toml, with hashes, at the versions of constraints.txt.
lock: setup
	$(VENV)/bin/python -m pip install -q -c constraints.txt pip-tools
	$(VENV)/bin/pip-compile -q --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
		--no-emit-find-links -c constraints.txt -o requirements.lock pyproject.toml

# Re-pin mitmproxy's environment with hashes (mitmproxy.in -> mitmproxy.lock).
lock-mitmproxy: setup
	$(VENV)/bin/python -m pip install -q pip-tools
	$(VENV)/bin/pip-compile -q --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
		--no-emit-find-links -o mitmproxy.lock mitmproxy.in

# atheris over every capture reader, protocol parser and decoder, FUZZ_SECONDS each (fuzz/run.py)
fuzz: setup
	$(VENV)/bin/python -m pip install -q -c constraints.txt -e '.[fuzz]'
	$(VENV)/bin/python -m fuzz.run --seconds $(FUZZ_SECONDS)

clean:
	rm -rf $(VENV) $(MITM_VENV) out .pytest_cache
