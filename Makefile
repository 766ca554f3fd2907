# One command each: `make` sets up .venv and runs the workflow; `make test` sets up and checks.
# Python 3.11, 3.12 or 3.13: the first of python3.11, python3.12, python3.13, python3 that is one of
# them (3.11 first: CI and the published outputs use it; outputs are byte-identical per lock and
# Python version). Choose another with PYTHON=python3.13.
PYTHON ?= $(shell for p in python3.11 python3.12 python3.13 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' 2>/dev/null \
	&& { command -v $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
# The locks are installed by uv (several files at a time, bytecode compiled on all cores: about a
# third of pip's time), itself pinned and hash-checked in requirements-dev.lock and installed by pip.
# uv reads no pip.conf: where it cannot reach the index (a site's mirror set only for pip, say), pip
# installs the same hash-checked files.
UV_INSTALL = $(BIN)/uv pip install --python $(BIN)/python --quiet --require-hashes --no-deps --compile-bytecode -r $(1) \
	|| { echo "uv could not install $(1); pip installs it instead"; $(PIP) install --quiet --require-hashes --no-deps -r $(1); }
# requirements.lock: what the workflow needs; requirements-dev.lock: that plus the test tools.
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
DEV_STAMP := $(VENV)/.installed-dev-$(shell cat requirements-dev.lock | cksum | cut -d' ' -f1)
CORES ?= all
PYTEST := $(BIN)/python -m pytest --durations=15 -n auto --dist loadgroup

.PHONY: all setup run test test-fast test-cluster lint format lock clean report benchmarks reference unlock verify

all: run

$(STAMP): requirements.lock pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11, 3.12 or 3.13 is required (none found; set PYTHON=...)"; exit 1; }
	@$(PYTHON) -c 'import sys; assert (3, 11) <= sys.version_info[:2] <= (3, 13), "Python 3.11, 3.12 or 3.13 is required, found " + sys.version'
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	awk '/^uv==/ {p = 1; print; next} p && /^ / {print; next} {p = 0}' requirements-dev.lock > $(VENV)/uv-requirement.txt
	$(PIP) install --quiet --require-hashes --no-deps -r $(VENV)/uv-requirement.txt
	$(call UV_INSTALL,requirements.lock)
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	$(PIP) check
	touch $@

$(DEV_STAMP): $(STAMP) requirements-dev.lock
	$(call UV_INSTALL,requirements-dev.lock)
	$(PIP) check
	touch $@

setup: $(DEV_STAMP)

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)

report: run
	$(BIN)/snakemake --report results/report.html

# A reviewer's check of the example's published results: manifest, then a re-run compared byte for byte.
verify: run
	$(BIN)/social-licence verify results/parents --cores $(CORES)

# Everything, including the slow workflow runs.
test: $(DEV_STAMP)
	$(BIN)/ruff check src scripts tests benchmarks tools
	$(PYTEST)
	$(BIN)/snakemake --lint
	$(BIN)/snakemake -s benchmarks/coverage/Snakefile --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules benchmarks/coverage/Snakefile

# The quick loop while developing: no whole-workflow runs (at most 90 seconds).
test-fast: $(DEV_STAMP)
	$(PYTEST) -m "not slow and not cluster"

# The cluster tests alone (they are part of make test): the example workflow through
# workflow/profiles/slurm on a real single-node SLURM cluster started by the test (Debian's
# slurm-wlm and munge, run as root; .ci/run installs them).
test-cluster: $(DEV_STAMP)
	$(PYTEST) -m cluster tests/test_cluster.py

lint: $(DEV_STAMP)
	$(BIN)/ruff check src scripts tests benchmarks
	$(BIN)/snakemake --lint
	$(BIN)/snakemake -s benchmarks/coverage/Snakefile --lint

format: $(DEV_STAMP)
	$(BIN)/ruff format src scripts tests benchmarks
	$(BIN)/snakefmt Snakefile workflow/rules benchmarks/coverage/Snakefile

benchmarks: $(DEV_STAMP)
	$(BIN)/python benchmarks/run_all.py

# Regenerate the R reference numbers (needs Rscript with the survey package: apt-get install
# r-base-core r-cran-survey r-cran-mass) and the digest list the tests check the reference files against.
reference:
	cd tests/data/reference && Rscript r/make_reference.R
	cd tests/data/reference/waves && Rscript waves_reference.R
	cd tests/data/reference && find . -type f ! -name SHA256SUMS ! -name README.md | LC_ALL=C sort \
		| sed 's|^\./||' | xargs sha256sum > SHA256SUMS

# Re-resolve the newest versions into both locks (then run `make test`): one universal resolution
# for Python 3.11-3.13 on Linux and macOS ([tool.uv] in pyproject.toml), with hashes, by uv (a dev
# tool); the dev lock keeps the runtime lock's versions.
LOCKTMP := /tmp/social-licence-lock
lock: $(DEV_STAMP)
	rm -rf $(LOCKTMP) && mkdir -p $(LOCKTMP) && printf 'pip\nsetuptools\nwheel\n' > $(LOCKTMP)/build.in
	sed -n '1,3p' requirements.lock > $(LOCKTMP)/runtime.lock
	$(BIN)/uv pip compile pyproject.toml $(LOCKTMP)/build.in --universal --generate-hashes \
		--upgrade --no-header --no-annotate >> $(LOCKTMP)/runtime.lock
	sed -n '1,3p' requirements-dev.lock > $(LOCKTMP)/dev.lock
	$(BIN)/uv pip compile pyproject.toml $(LOCKTMP)/build.in --extra dev --universal \
		--generate-hashes -c $(LOCKTMP)/runtime.lock --upgrade --no-header --no-annotate >> $(LOCKTMP)/dev.lock
	mv $(LOCKTMP)/runtime.lock requirements.lock && mv $(LOCKTMP)/dev.lock requirements-dev.lock
	$(BIN)/python tools/sync_environment.py

# After a killed run ("Directory cannot be locked"): only when no snakemake is running here.
unlock: $(STAMP)
	@for pid in $$(pgrep -f '[b]in/snakemake'); do \
		if [ "$$(readlink /proc/$$pid/cwd)" = "$(CURDIR)" ]; then \
			echo "snakemake (process $$pid) is still running in this folder: let it finish, or stop it, first"; \
			exit 1; \
		fi; \
	done
	$(BIN)/snakemake --unlock

clean:
	rm -rf results work .results.new .results.old .snakemake
