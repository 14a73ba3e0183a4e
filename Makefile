# The two user-facing targets are `make demo` and `make test`.
# Both set everything up on first use: Debian packages (tools/setup_system.sh),
# a virtualenv in .venv with the pinned requirements, and the two packages.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test setup check-mpy check-generated test-unix test-on test-pytest bench clean

demo: $(STAMP)
	$(BIN)/python tools/demo.py

# Every step runs even when one fails; the exit status is non-zero if any
# did. MicroPython v1.28.0 is built from source once (cached in build/).
# The shared tests run on CPython, the pip wheel (64-bit Unix port), the
# 32-bit Unix port (a board's word size), both frozen builds (the firmware
# in the image, as in a board's flash; their heap budgets) and the
# emulated Cortex-M board over its serial port; then the host tests
# (pytest), which include the emulated board's deploy and end to end.
TEST_TARGETS := cpython unix unix32 unix-frozen unix32-frozen qemu

test: $(STAMP)
	@status=0; \
	$(BIN)/python tools/build_micropython.py || exit 1; \
	$(BIN)/python tools/check_mpy.py || status=1; \
	for t in $(TEST_TARGETS); do \
	    echo "== shared tests on $$t"; \
	    $(BIN)/python tools/run_tests.py --target $$t || status=1; \
	done; \
	echo "== host tests (pytest)"; \
	$(BIN)/python -m pytest -q tests || status=1; \
	exit $$status

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

# Every committed table and vector file is what its tools/gen/gen_*.py makes
# today (pytest runs the same in tests/host/test_generated_files.py).
check-generated: $(STAMP)
	@status=0; for t in tools/gen/gen_*.py; do $(BIN)/python $$t --check || status=1; done; exit $$status

test-unix: $(STAMP)
	$(BIN)/python tools/run_tests.py --target unix

# One target's shared tests: make test-on TARGET=qemu
test-on: $(STAMP)
	$(BIN)/python tools/run_tests.py --target $(TARGET)

test-pytest: $(STAMP)
	$(BIN)/python -m pytest -q tests

# Figures only (no pass/fail): FEC, codec, verify, Ed25519 vs textbook, issuer.
bench: $(STAMP)
	$(BIN)/python tools/bench/bench.py
	MICROPYPATH=firmware:tools/bench $(BIN)/micropython tools/bench/bench.py
	$(BIN)/python tools/bench/bench_compare.py
	$(BIN)/python tools/bench/bench_issuer.py
	$(BIN)/python tools/bench/bench_attacks.py
	$(BIN)/python tools/bench/bench_qemu.py
	$(BIN)/python tools/bench/bench_audit.py

clean:
	rm -rf $(VENV) build *.egg-info
