# The two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .devstack/venv
PY := $(VENV)/bin/python
PACKAGES := libs/contracts libs/kit $(sort $(wildcard services/*))
STAMP := $(VENV)/.installed
# Deployment checks (tests/deploy): the Compose CLI, built from the Go module pinned in
# deploy/tools/compose (no Docker engine needed for `config`), and kubectl's kustomize, or a
# kustomize built here where kubectl is missing.
BIN := .devstack/bin
COMPOSE := $(BIN)/docker-compose
KUSTOMIZE_VERSION := v5.5.0
# Frontend-team tests (tests/frontend): TypeScript, openapi-typescript and openapi-fetch at the
# versions tests/frontend/package.json pins, installed with npm and no lock file.
FRONTEND := .devstack/frontend
TOOLS := $(COMPOSE) $(if $(shell command -v kubectl),,$(BIN)/kustomize) $(FRONTEND)/node_modules/.installed

.PHONY: run test lint install tools k8s-validate bench schemas clean-stack

run: install ## start PostgreSQL, Kafka, migrations, the nine services and an SMTP sink (mail in .devstack/dev/mail); Ctrl-C stops all
	$(PY) deploy/local/run.py

test: install tools lint ## the whole suite against real PostgreSQL and Kafka
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install ## pyflakes and pycodestyle errors (ruff)
	$(PY) -m ruff check .

install: $(STAMP)

k8s-validate: install tools ## render deploy/k8s, check it and docker-compose.yml against the code (tests/deploy)
	$(PY) -m pytest -q tests/deploy

tools: $(TOOLS)

$(STAMP): constraints.txt requirements-dev.txt $(addsuffix /pyproject.toml,$(PACKAGES))
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt pip setuptools
	$(PY) -m pip install -q --no-build-isolation -c constraints.txt -r requirements-dev.txt $(addprefix -e ,$(PACKAGES))
	@touch $@

$(COMPOSE): deploy/tools/compose/go.mod deploy/tools/compose/go.sum
	@mkdir -p $(BIN)
	cd deploy/tools/compose && go build -trimpath -ldflags "-s -w -X github.com/docker/compose/v5/internal.Version=$$(go list -m -f '{{.Version}}' github.com/docker/compose/v5)" \
		-o $(abspath $@) github.com/docker/compose/v5/cmd

$(FRONTEND)/node_modules/.installed: tests/frontend/package.json
	@mkdir -p $(FRONTEND)
	cp tests/frontend/package.json $(FRONTEND)/package.json
	cd $(FRONTEND) && npm install --no-package-lock --no-audit --no-fund --loglevel=error
	@touch $@

$(BIN)/kustomize:
	@mkdir -p $(BIN)
	GOBIN=$(abspath $(BIN)) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

schemas: install ## publish the JSON Schema of every new event contract version
	$(PY) -m itsm_contracts.schemas libs/contracts/schemas

bench: install ## benchmarks against a running stack; results under bench/results/
	$(PY) -m bench

clean-stack: ## stop and delete the local PostgreSQL and Kafka data
	$(PY) deploy/local/devstack.py down --name dev --purge
	$(PY) deploy/local/devstack.py down --name test --purge
