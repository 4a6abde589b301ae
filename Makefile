# Two commands do everything on a fresh machine: `make run` and `make test`.
#   make run                                  the demo stack on 127.0.0.1:8765 and :8080
#   make run SERVICE_PORT=9765 AGG_PORT=9080  the same on other ports
VENV ?= .venv
PY := $(VENV)/bin/python
SERVICE_PORT ?= 8765
AGG_PORT ?= 8080
export VENV
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test setup setup-run system lint typecheck pytest lock bench clean

run: setup-run
	$(PY) -m printernizer_usage_service.demo_stack --port $(SERVICE_PORT) --server-port $(AGG_PORT)

test: setup system lint typecheck pytest

# The dev lock (requirements/lock.txt): tests, linters, Home Assistant.
setup:
	@scripts/bootstrap dev

# The runtime lock (requirements/run.txt): only what `make run` runs.
setup-run:
	@scripts/bootstrap run

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

# Re-pin requirements/lock.txt, requirements/run.txt and addon/install/requirements.txt.
lock: setup
	@scripts/lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .coverage* htmlcov
