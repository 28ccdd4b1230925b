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
# preset, the solver's cost, the backbones and denoisers trained, samples, denoising.
MODELS_TRAINED := unet cunet dncnn conv-ae
report: install
	$(BIN)/bench models
	$(BIN)/bench efficiency --preset quick
	$(BIN)/bench solvers --batch 1,16
	for model in $(MODELS_TRAINED); do $(BIN)/bench train --model $$model --preset quick --resume || exit 1; done
	$(BIN)/bench sample --checkpoint checkpoints/unet-mnist5k-quick.safetensors --steps 50
	$(BIN)/bench sample --checkpoint checkpoints/cunet-mnist5k-quick.safetensors --steps 50
	$(BIN)/bench denoise --noise-steps 50,150,400 --num-images 64

test: install
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) build dist *.egg-info
