# The two commands of the README: `make demo` (set up, run the main job) and `make test`.
PY ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint services bench clean

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[ml,slurm,runpod,dev]'
	touch $(STAMP)

setup: $(STAMP)

# The main job: /ml-pipeline-full on the embedded synthetic data, with the HTML report.
demo: setup
	$(VENV)/bin/slashmake run /ml-pipeline-full --report results/report.html
	$(VENV)/bin/slashmake results

# Python (ruff, mypy) and the workflow as Snakemake's own tools see it: snakefmt and
# `snakemake --lint` over the Snakefile, rules/common.smk and every compiled flow.
lint: setup
	$(VENV)/bin/ruff check src tests scripts bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-logo
	$(VENV)/bin/slashmake compile --check
	$(VENV)/bin/snakefmt --check Snakefile rules/
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/snakemake --lint --cores 1
	$(VENV)/bin/slashmake lint --strict > /dev/null
	$(VENV)/bin/slashmake agents install --check

# Tests need a SLURM cluster (started here when this machine can) and start their own sshd.
services:
	bash .ci/slurm-up.sh

# Two pytest-xdist workers (the CI machine has 2 cores); tests that share a service or a built
# project carry an xdist_group mark and run on one worker. The 20 slowest tests are printed.
# The tests start slashmake in thousands of new processes: its modules are compiled once here
# (where PYTHONDONTWRITEBYTECODE is set, as on some machines, each process would recompile them).
test: setup services lint
	$(VENV)/bin/python -m compileall -q src tests
	$(VENV)/bin/pytest -q -n 3 --dist loadgroup --durations=20 --timeout=900

bench: setup
	$(VENV)/bin/python bench/run_all.py

clean:
	rm -rf results logs .snakemake .slashmake registry dvc-remote
