# Two commands do everything on a fresh machine: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test setup system lint typecheck pytest lock bench clean

run: setup
	$(PY) -m printernizer_usage_service.demo_stack

test: setup system lint typecheck pytest

setup:
	@scripts/bootstrap

system:
	@scripts/system-deps

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck:
	$(VENV)/bin/mypy --strict custom_components/printernizer_usage
	$(VENV)/bin/mypy aggregation printernizer_usage_service printernizer_usage_web

pytest:
	scripts/run-tests

bench: setup
	$(PY) -m benchmarks

lock:
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --no-header -o requirements/lock.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .coverage* htmlcov
