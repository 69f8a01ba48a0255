# One command each: `make run` starts the system, `make test` runs every test tier.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run up down status seed shell bench reliability replay-dead-letters test test-unit test-integration test-e2e venv

venv: $(STAMP)

# The venv is (re)built whenever the pinned requirements change.
$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) scripts/stack.py run

up: $(STAMP)
	$(PY) scripts/stack.py up

down:
	$(PY) scripts/stack.py down

# Every process supervisor runs and its state (supervisorctl status).
status:
	$(PY) scripts/stack.py status

# Demo data (products, customers, confirmed orders) through the REST API of
# the running system; running it again creates nothing new.
seed: $(STAMP)
	$(PY) scripts/seed.py

# Move a consumer's dead-lettered events back to their queues, attempts reset:
# `make replay-dead-letters SERVICE=inventory` (README, "Dead letters").
replay-dead-letters: $(STAMP)
	PYTHONPATH=. $(PY) scripts/replay_dead_letters.py $(SERVICE)

# The system beside a bare nameko hop, on a system of its own that it starts
# and stops (needs wrk: apt-get install wrk); results in bench/results/.
# Options through BENCH_ARGS, e.g. `make bench BENCH_ARGS=--quick`.
bench: $(STAMP)
	$(PY) -m bench.run $(BENCH_ARGS)

# The fault, hostile-input and fuzz tests at full size (each also runs, smaller,
# in `make test`), then their figures as a table; saved in reliability-results/.
RELIABILITY_ROWS := reliability-results/rows.jsonl

reliability: $(STAMP)
	mkdir -p reliability-results && rm -f $(RELIABILITY_ROWS)
	RELIABILITY_SCALE=full RELIABILITY_REPORT=$(CURDIR)/$(RELIABILITY_ROWS) \
		$(PY) -m pytest tests/faults tests/e2e/test_hostile_input.py tests/e2e/test_fuzz.py; status=$$?; \
		$(PY) scripts/reliability_report.py $(RELIABILITY_ROWS) reliability-results/latest.json; exit $$status

# A Python shell with `n.rpc.<service>` bound to the running system; the
# repository is on the path so errors arrive as their own classes.
shell: $(STAMP)
	PYTHONPATH=. $(VENV)/bin/nameko shell --config config/config.yml

# npm's mermaid (pinned in package-lock.json) for tests/e2e/test_diagrams.py,
# which renders the docs' diagrams; npm ci leaves this file behind.
NODE_STAMP := node_modules/.package-lock.json

$(NODE_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund; \
	else echo "npm not found: tests/e2e/test_diagrams.py is skipped (and fails on CI)"; fi

test: $(STAMP) $(NODE_STAMP)
	$(PY) -m pytest tests

test-unit: $(STAMP)
	$(PY) -m pytest tests/unit

test-integration: $(STAMP)
	$(PY) -m pytest tests/integration

test-e2e: $(STAMP) $(NODE_STAMP)
	$(PY) -m pytest tests/e2e
