# One-command set-up: every target creates the virtual environment and
# installs the project first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CSV ?= $(firstword $(wildcard data/fer2013.csv data/fer2013.csv.gz ../shared/fer2013/fer2013.csv.gz))
FEATURES ?= data/features
# The tests' real-data path: the environment's, else the CSV found above.
FER2013_CSV ?= $(if $(CSV),$(abspath $(CSV)))

.PHONY: install install-docs test demo train-demo benchmark pretrained clean docs gallery

# PYTHONWARNINGS hides setuptools' one notice about editable installs of a mapped
# package ("folders ... with the same name as your package"): no folder here is
# called fer_toolkit.
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed

test: install
	FER2013_CSV="$(FER2013_CSV)" $(BIN)/python -m pytest

$(FEATURES)/manifest.json: | install
	@test -n "$(CSV)" || { echo "put fer2013.csv (or .csv.gz) in data/, or run: make train-demo CSV=/path/to/fer2013.csv"; exit 1; }
	$(BIN)/fer-convert --csv $(CSV) --out $(FEATURES) --force

# Recognise the faces in a sample photo with the shipped model (offline, no dataset).
demo: install
	$(BIN)/fer-predict --output demo-annotated.png --bars demo-bars.png
	@echo "wrote demo-annotated.png and demo-bars.png"

# Convert the dataset, train model B with landmarks and sliding-window HOG for a
# few epochs on a Training subset, and evaluate it on PrivateTest.
train-demo: install $(FEATURES)/manifest.json
	$(BIN)/fer-train --data $(FEATURES) --model B --features landmarks_hog_windows --epochs 3 \
		--train-limit 8000 --out runs/demo --force --quiet
	$(BIN)/fer-evaluate --model runs/demo --data $(FEATURES) --split PrivateTest

benchmark: install
	$(BIN)/python benchmarks/convert.py --csv $(CSV)
	$(BIN)/python benchmarks/landmarks.py --csv $(CSV)

# Ship a trained run as one of the package's models (no optimizer state):
# make pretrained RUN=runs/b-wide NAME=fer2013 (or NAME=ferplus). Several runs,
# RUN="runs/a runs/b", ship as one ensemble bundle (their networks averaged in one model).
# WEIGHTS=float16 stores the weights at half the size (the package stays under 50 MB).
RUN ?= runs/b-wide
NAME ?= fer2013
WEIGHTS ?= float32
pretrained: install
	$(BIN)/python -c "from fer_toolkit.models.bundle import export_bundle; from fer_toolkit.models.ensemble import export_ensemble; \
	runs = '$(RUN)'.split(); dest = 'models/pretrained/$(NAME)'; \
	export_bundle(runs[0], dest, '$(WEIGHTS)') if len(runs) == 1 else export_ensemble(runs, dest, '$(WEIGHTS)')"

# The documentation site (docs/_build/html), offline; any warning fails the build.
$(BIN)/.docs-installed: $(BIN)/.installed
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install --quiet -e '.[test,docs]'
	touch $@

install-docs: $(BIN)/.docs-installed

docs: install-docs
	$(BIN)/python -m sphinx -E -W --keep-going -q -b html docs docs/_build/html
	@echo "wrote docs/_build/html/index.html"

# Redraw the gallery's pictures from the shipped models.
gallery: install
	$(BIN)/python docs/gallery.py

clean:
	rm -rf $(VENV) runs/demo demo-annotated.png demo-bars.png
