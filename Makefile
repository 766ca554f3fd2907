# One command each: `make` sets up .venv and runs the workflow; `make test` sets up and checks.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
CORES ?= all

.PHONY: all setup run test test-cluster lint format lock clean report benchmarks

all: run

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version'
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps pip==$$(sed -n 's/^pip==//p' requirements.lock)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $@

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)

report: run
	$(BIN)/snakemake --report results/report.html

test: $(STAMP)
	$(BIN)/ruff check src scripts tests benchmarks tools
	$(BIN)/python -m pytest
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules

# The example workflow through workflow/profiles/slurm on a real single-node SLURM cluster
# started by the test (Debian's slurm-wlm and munge; installed when absent and run as root).
test-cluster: $(STAMP)
	$(BIN)/python -m pytest -m cluster tests/test_cluster.py

lint: $(STAMP)
	$(BIN)/ruff check src scripts tests benchmarks
	$(BIN)/snakemake --lint

format: $(STAMP)
	$(BIN)/ruff format src scripts tests benchmarks
	$(BIN)/snakefmt Snakefile workflow/rules

benchmarks: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# Re-resolve the newest versions into requirements.lock (then run `make test`).
lock:
	rm -rf /tmp/social-licence-lock && $(PYTHON) -m venv /tmp/social-licence-lock
	/tmp/social-licence-lock/bin/pip install --quiet -e '.[dev]'
	{ sed -n '1,2p' requirements.lock; /tmp/social-licence-lock/bin/pip freeze --all --exclude-editable | sort -f; } > requirements.lock.new
	mv requirements.lock.new requirements.lock
	$(BIN)/python tools/sync_environment.py

clean:
	rm -rf results .snakemake
