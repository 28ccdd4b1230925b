# Two commands set everything up on a fresh machine:
#   make report   create .venv, install, run the main job on the embedded default data
#   make test     create .venv, install, run the test suite
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

# The main job on the embedded default data (MNIST-5k), resumable: efficiency at the quick
# preset, the solver's cost, then the two backbones trained and sampled.
report: install
	$(BIN)/bench models
	$(BIN)/bench efficiency --preset quick
	$(BIN)/bench solvers --batch 1,16
	$(BIN)/bench train --model unet --preset quick --resume
	$(BIN)/bench train --model cunet --preset quick --resume
	$(BIN)/bench sample --checkpoint checkpoints/unet-mnist5k-quick.safetensors --steps 50
	$(BIN)/bench sample --checkpoint checkpoints/cunet-mnist5k-quick.safetensors --steps 50

test: install
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) build dist *.egg-info
