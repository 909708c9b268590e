# The two commands: `make demo` (a real transfer of the sample book through the Airflow DAG) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CUSTOMERS ?= 10000
SEED ?= 42
DEFECT_RATE ?= 0.01
TRANSFER_ID ?= demo-transfer
YESTERDAY := $(shell $(PYTHON) -c 'import datetime as d; print(d.date.today() - d.timedelta(days=1))')

# Everything local lives in the project: Airflow's home and metadata DB, the drop, keys, the buyer DB.
export BOOKTRANSFER_HOME := $(CURDIR)
export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN := sqlite:///$(CURDIR)/.airflow/airflow.db
export NO_COLOR := 1

.PHONY: demo test lint install clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit("booktransfer needs Python >= 3.11" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

demo: install
	@mkdir -p var .airflow
	$(BIN)/booktransfer keys init --if-missing
	rm -rf var/drop var/staging var/buyer.db  # a fresh demo each time (the buyer schema may have changed)
	$(BIN)/booktransfer sample --customers $(CUSTOMERS) --seed $(SEED) --defect-rate $(DEFECT_RATE) --out var/drop
	$(BIN)/airflow db migrate > .airflow/migrate.log 2>&1 || (tail -20 .airflow/migrate.log; exit 1)
	@# The demo approves its own load (--mark-success-pattern): `dags test` has no operator to answer the approval
	@# gate. Its impact assessment is a placeholder approved yesterday; a real transfer names its own.
	$(BIN)/airflow dags test portfolio_transfer --mark-success-pattern approve_load \
		--conf '{"transfer_id": "$(TRANSFER_ID)", "source": "var/drop", "target": "sqlite:///var/buyer.db", "pipia_reference": "PIPIA-DEMO", "pipia_approved_on": "$(YESTERDAY)"}' \
		> .airflow/demo-run.log 2>&1 || (tail -40 .airflow/demo-run.log; exit 1)
	$(BIN)/booktransfer report latest --transfer-id $(TRANSFER_ID)

lint: install
	$(BIN)/ruff check .

test: install
	$(BIN)/ruff check .
	$(BIN)/pytest

clean:
	rm -rf .airflow var reports .pytest_cache
