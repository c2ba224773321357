# Two commands on a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   ?= demo

.PHONY: setup test demo bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[build,test]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

demo: $(STAMP)
	rm -rf $(DEMO)
	$(BIN)/longvid sample $(DEMO)/sample --small
	$(BIN)/longvid ingest --sources all --manifests $(DEMO)/sample/manifests --out $(DEMO)/corpus
	$(BIN)/longvid stats $(DEMO)/corpus
	$(BIN)/longvid sql $(DEMO)/corpus "SELECT source, count(*) AS videos, round(sum(duration)/3600, 2) AS hours FROM videos GROUP BY source ORDER BY source"

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .hypothesis
