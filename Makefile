# One-command set-up: every target creates the virtual environment and
# installs the project first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CSV ?= $(firstword $(wildcard data/fer2013.csv data/fer2013.csv.gz ../shared/fer2013/fer2013.csv.gz))
FEATURES ?= data/features

.PHONY: install test demo benchmark clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed

test: install
	$(BIN)/python -m pytest

$(FEATURES)/manifest.json: | install
	@test -n "$(CSV)" || { echo "put fer2013.csv (or .csv.gz) in data/, or run: make demo CSV=/path/to/fer2013.csv"; exit 1; }
	$(BIN)/fer-convert --csv $(CSV) --out $(FEATURES) --force

# Convert the dataset, train model B with landmarks and sliding-window HOG for a
# few epochs on a Training subset, and evaluate it on PrivateTest.
demo: install $(FEATURES)/manifest.json
	$(BIN)/fer-train --data $(FEATURES) --model B --features landmarks_hog_windows --epochs 3 \
		--train-limit 8000 --out runs/demo --force --quiet
	$(BIN)/fer-evaluate --model runs/demo --data $(FEATURES) --split PrivateTest

benchmark: install
	$(BIN)/python benchmarks/convert.py --csv $(CSV)

clean:
	rm -rf $(VENV) runs/demo
