# The two user-facing targets are `make demo` and `make test`.
# Both set everything up on first use: Debian packages (tools/setup_system.sh),
# a virtualenv in .venv with the pinned requirements, and the two packages.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test setup check-mpy check-generated test-unix test-pytest bench clean

demo: $(STAMP)
	$(BIN)/python tools/demo.py

test: $(STAMP)
	$(BIN)/python tools/check_mpy.py
	$(BIN)/python tools/run_tests.py --target unix
	$(BIN)/python -m pytest -q tests

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml tools/setup_system.sh
	sh tools/setup_system.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools
	$(BIN)/pip install -q -r requirements.txt
	# pyroughtime declares dependencies that no longer build: its real needs
	# (ed25519, pycryptodome) are in requirements.txt.
	$(BIN)/pip install -q --no-deps pyroughtime==1.0.1
	$(BIN)/pip install -q --no-deps -e .
	touch $@

check-mpy: $(STAMP)
	$(BIN)/python tools/check_mpy.py

# Every committed table and vector file is what its tools/gen_*.py makes
# today (pytest runs the same in tests/host/test_generated_files.py).
check-generated: $(STAMP)
	@status=0; for t in tools/gen_*.py; do $(BIN)/python $$t --check || status=1; done; exit $$status

test-unix: $(STAMP)
	$(BIN)/python tools/run_tests.py --target unix

test-pytest: $(STAMP)
	$(BIN)/python -m pytest -q tests

# Figures only (no pass/fail): FEC, codec, verify, Ed25519 vs textbook, issuer.
bench: $(STAMP)
	$(BIN)/python tools/bench.py
	MICROPYPATH=firmware:tools $(BIN)/micropython tools/bench.py
	$(BIN)/python tools/bench_compare.py
	$(BIN)/python tools/bench_issuer.py

clean:
	rm -rf $(VENV) build *.egg-info
