# The two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .devstack/venv
PY := $(VENV)/bin/python
PACKAGES := libs/contracts libs/kit $(sort $(wildcard services/*))
STAMP := $(VENV)/.installed

.PHONY: run test lint install bench schemas clean-stack

run: install ## start PostgreSQL, Kafka, migrations and the six services; Ctrl-C stops all
	$(PY) deploy/local/run.py

test: install lint ## the whole suite against real PostgreSQL and Kafka
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install ## pyflakes and pycodestyle errors (ruff)
	$(PY) -m ruff check .

install: $(STAMP)

$(STAMP): constraints.txt requirements-dev.txt $(addsuffix /pyproject.toml,$(PACKAGES))
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt pip setuptools
	$(PY) -m pip install -q --no-build-isolation -c constraints.txt -r requirements-dev.txt $(addprefix -e ,$(PACKAGES))
	@touch $@

schemas: install ## publish the JSON Schema of every new event contract version
	$(PY) -m itsm_contracts.schemas libs/contracts/schemas

bench: install ## benchmarks against a running stack; results under bench/results/
	$(PY) -m bench

clean-stack: ## stop and delete the local PostgreSQL and Kafka data
	$(PY) deploy/local/devstack.py down --name dev --purge
	$(PY) deploy/local/devstack.py down --name test --purge
