# Two commands on a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   ?= demo

.PHONY: setup test demo bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml trainer/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[build,hico,test]' -e './trainer[lora,ray]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/longvid demo $(DEMO)

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .hypothesis
