# make test  — create .venv, install threadline with its dev tools, lint, type-check, test
# make demo  — create .venv, install, run the bundled examples, a scale report (demo-output/)
#              and the race detector on a racy and a fixed program
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: test demo lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml setup.py $(wildcard src/threadline/race/_accel*.[ch]) src/threadline/_chancore.c | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests bench examples conftest.py
	$(BIN)/ruff format --check src tests bench examples conftest.py

typecheck: $(VENV)/.installed
	$(BIN)/mypy src

# The channel suites run twice: on the compiled core (the default, where it
# was built) and on the pure-Python reference (THREADLINE_PURE=1).
CHANNEL_TESTS := tests/test_channel.py tests/test_channel_model.py tests/test_channel_core.py \
	tests/test_select.py tests/test_async.py tests/test_keyboard_interrupt.py tests/test_deadlock.py \
	tests/conformance tests/core tests/stress

pytest: $(VENV)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	THREADLINE_PURE=1 $(BIN)/python -m pytest $(PYTEST_ARGS) $(CHANNEL_TESTS)

test: lint typecheck pytest

demo: $(VENV)/.installed
	@for f in examples/*.py; do \
		echo "=== $$f"; \
		$(BIN)/python $$f || exit 1; \
	done
	@mkdir -p demo-output
	@for w in web_request json_lines cpu gil_releasing; do \
		echo "=== threadline scale threadline.scale.workloads:$$w"; \
		$(BIN)/threadline scale threadline.scale.workloads:$$w --duration 0.3 --rounds 3 \
			--json demo-output/scale-$$w.json --plot demo-output/scale-$$w.png \
			--table demo-output/scale-$$w.txt || exit 1; \
	done
	@echo "reports, JSON and plots: demo-output/"
	@echo "=== threadline race examples/race/bank_racy.py (a race: exit status 66 expected)"
	@$(BIN)/threadline race examples/race/bank_racy.py; status=$$?; \
		if [ $$status -ne 66 ]; then echo "expected exit status 66, got $$status"; exit 1; fi
	@echo "=== threadline race examples/race/bank_fixed.py (no race: exit status 0)"
	@$(BIN)/threadline race examples/race/bank_fixed.py
	@echo "=== pytest --parallel-threads=4 --race in examples/race/parallel (a race: the test fails)"
	@cd examples/race/parallel && $(abspath $(BIN))/python -m pytest -q -p no:cacheprovider \
		--parallel-threads=4 --race \
		> $(CURDIR)/demo-output/race-parallel.txt; status=$$?; \
		cat $(CURDIR)/demo-output/race-parallel.txt; \
		if [ $$status -ne 1 ] || ! grep -q "WARNING: DATA RACE" $(CURDIR)/demo-output/race-parallel.txt; \
		then echo "expected the race to be reported and the test to fail (status 1), got $$status"; exit 1; fi

bench: $(VENV)/.installed
	$(BIN)/python bench/channels.py
	$(BIN)/python bench/tasks.py
	$(BIN)/python bench/parallel.py --memory --scaling
	$(BIN)/python bench/race.py

clean:
	rm -rf $(VENV) .venv-* demo-output .mypy_cache .pytest_cache .ruff_cache build dist
