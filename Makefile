# Two commands set everything up on a fresh machine:
#   make report   create .venv, install, run the main job on the embedded default data
#   make test     create .venv, install, lint and format-check the code with ruff, run the test suite
VENV ?= .venv
PYTHON ?= python3
TORCH ?= torch==2.14.1 torchvision==0.29.1
BIN := $(VENV)/bin

.PHONY: install report test clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(BIN)/.installed

# The main job on the embedded default data (MNIST-5k): bench all --preset quick runs efficiency,
# trains unet, cunet, dncnn and conv-ae, samples, denoises, measures FID and writes
# reports/REPORT.md; finished steps are skipped, unfinished ones resume. Once the repository ships
# the long reference's weights (reference/weights/MANIFEST.json), every model and seed they hold is
# measured from them instead of trained; `make report WEIGHTS=` trains from scratch all the same.
WEIGHTS ?= $(if $(wildcard reference/weights/MANIFEST.json),reference/weights)

report: install
	$(BIN)/bench all --preset quick $(if $(WEIGHTS),--weights $(WEIGHTS))

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) build dist *.egg-info
