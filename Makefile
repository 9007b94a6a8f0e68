# The two commands of the README: `make demo` and `make test`. Both build
# .venv from this project's own files when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?= -m "not slow"

.PHONY: venv demo test test-all bench lint clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing imagehub, TensorFlow and the test tools into $(VENV)"
	@echo "(a minute or two; pip lists each package as it goes)"
	$(PY) -m pip install --quiet --upgrade pip
	# Not --quiet: the install takes a while and pip's lines are progress.
	$(PY) -m pip install --progress-bar on -e '.[cpu,dev-core,beam,openvino,hubs,keras-hub-core]'
	# tensorflow-hub and tf-keras (the [dev] extra's interop consumers) and
	# keras-hub's tensorflow-text (the [keras-hub] extra) declare a
	# dependency on the full `tensorflow` wheel; beside tensorflow-cpu that
	# would install TensorFlow twice.
	$(PY) -m pip install --no-deps 'tf-keras>=2.16,<2.22' \
		'tensorflow-hub>=0.16'
	$(PY) -m pip install --no-deps 'keras-hub>=0.32' \
		'tensorflow-text>=2.20,<2.22'
	touch $(STAMP)

demo: $(STAMP)
	# --overwrite: a second `make demo` replaces the first one's outputs.
	$(VENV)/bin/imagehub demo --out imagehub-demo --overwrite $(DEMO_ARGS)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

test-all: $(STAMP)
	$(PY) -m pytest -m ""

bench: $(STAMP)
	$(PY) bench/run_all.py

# ruff (lint and format) on everything, mypy on the package (its
# configuration, strict for spec, hub and data, is in pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
