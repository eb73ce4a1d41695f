# The two commands a newcomer runs (see README):
#   make demo   - the main job on the embedded default (Python only: no Java, no servers)
#   make test   - the whole suite: lint, types, import contracts, tests against real Kafka, ClickHouse and
#                 PostgreSQL, then the cluster suite on a local 3-broker / 2x2 ClickHouse cluster
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

# Some machines (this project's CI among them) set PYTHONDONTWRITEBYTECODE: then every process the suite
# starts (the CLI, workers, the relay) compiles the whole code base again, ~1-2.5 s each. The virtualenv and
# the code folders may keep bytecode (__pycache__ is ignored by git).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test test-cluster lint typecheck importlint pytest services-up services-down venv

# uv (from PyPI, into the virtualenv itself) installs the ~150 packages in seconds and shows what it does;
# if it cannot be had, pip does the same work, visibly (no -q), only slower.
$(BIN)/touchstream: pyproject.toml
	@echo "==> creating $(VENV) and installing Touchstream with its dependencies"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check --progress-bar on uv \
		&& VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/uv pip install -e ".[dev]" \
		|| $(BIN)/pip install --disable-pip-version-check --progress-bar on -e ".[dev]"
	touch $@

venv: $(BIN)/touchstream

demo: venv
	$(BIN)/touchstream demo

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy cannot follow setuptools' editable-install import hook, so it reads the code folders through a
# throw-away tree of links laid out as the installed namespace (touchstream/events -> events/, ...).
typecheck: venv
	rm -rf build/typecheck && mkdir -p build/typecheck/touchstream
	for d in events projections streams adapters; do ln -s ../../../$$d build/typecheck/touchstream/$$d; done
	cd build/typecheck && ../../$(BIN)/mypy --config-file ../../pyproject.toml -p touchstream

# import-linter (contracts in pyproject.toml) reads the same kind of tree, with a root __init__.py.
importlint: venv
	$(BIN)/lint-imports

services-up:
	deploy/local/services up
	deploy/local/browser.sh

services-down:
	deploy/local/services down

# pytest-xdist: one worker per core (at most 4), each test module on one worker (its module fixtures
# are set up once), handed out in collection order: the long server and fault modules (e2e, faults,
# integration) go first and the many short unit modules fill the end (xdist's default, the modules with
# most tests first, left the one-test fault modules for last: a 4-min tail). Most of the suite waits on
# servers and subprocesses, so two workers on this 2-core box take ~11 min instead of ~20 (measured;
# every test names its own topics, databases and folders).
pytest: venv
	$(BIN)/pytest -n auto --maxprocesses 4 --dist loadscope --no-loadscope-reorder

# The cluster suite starts deploy/local/cluster itself (3 brokers, 2x2 ClickHouse, ZooKeeper, a PostgreSQL
# replica), kills a broker, a replica and a worker, and checks nothing was lost or doubled (~4 min).
test-cluster: venv
	$(BIN)/pytest -m cluster tests/cluster -p no:cacheprovider

test: lint typecheck importlint services-up pytest test-cluster
