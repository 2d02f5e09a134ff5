# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint replay fuzz bench venv clean messages catalogs

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## messages: the messages marked _() in mediins_cli extracted (babel.cfg) into the template, the
## Chinese catalog updated from it (translate the new entries, clear `fuzzy`), then compiled;
## tests/test_i18n.py fails while an entry is missing, empty or fuzzy
POT := mediins_cli/locale/mediins.pot
PO  := mediins_cli/locale/zh/LC_MESSAGES/mediins.po
MO  := $(PO:.po=.mo)
messages: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg -k N_ -k NP_:1c,2 --no-location --sort-output \
		--omit-header --no-wrap -o $(POT) mediins_cli
	$(BIN)/pybabel -q update -D mediins -i $(POT) -d mediins_cli/locale -l zh \
		--ignore-obsolete --no-fuzzy-matching --no-wrap
	$(MAKE) --no-print-directory catalogs

## catalogs: the .po compiled to .mo, as the build does it (hatch_build.py)
catalogs: $(MO)
$(MO): $(PO) $(STAMP)
	$(BIN)/python hatch_build.py

DEMO_OUT ?= out/demo
SAMPLE   := --month 2024-02 --enrollees sample_data/enrollees.csv

BANK     := --bank-format pipe-gb18030-fen

## demo: the sample month through the tool: its dates, its inputs checked, both rounds on the
## bank's ledgers into $(DEMO_OUT); then the same month in return mode (DESIGN §11) into
## $(DEMO_OUT)-returns: each round's debit instructions for the banks (in the example format
## pipe-gb18030-fen), and the banks' answers shipped in sample_data/returns/ read back
## (run again, every step says there is nothing to do: the same inputs never run twice)
demo: $(STAMP) $(MO)
	$(BIN)/mediins calendar --month 2024-02
	$(BIN)/mediins validate --enrollees sample_data/enrollees.csv --ledger sample_data/ledger.csv
	$(BIN)/mediins deduct --round 1 $(SAMPLE) --ledger sample_data/ledger.csv --out $(DEMO_OUT)
	$(BIN)/mediins deduct --round 2 $(SAMPLE) --ledger sample_data/ledger-round2.csv --out $(DEMO_OUT)
	$(BIN)/mediins instruct --round 1 $(SAMPLE) $(BANK) --out $(DEMO_OUT)-returns
	$(BIN)/mediins deduct --round 1 $(SAMPLE) --returns sample_data/returns/round1 --out $(DEMO_OUT)-returns
	$(BIN)/mediins instruct --round 2 $(SAMPLE) --out $(DEMO_OUT)-returns
	$(BIN)/mediins deduct --round 2 $(SAMPLE) --returns sample_data/returns/round2 --out $(DEMO_OUT)-returns

## test: the whole suite
test: $(STAMP) $(MO)
	$(BIN)/python -m pytest -q

## replay: the shipped year of history, run again and compared file by file (plain and chained)
replay: $(STAMP) $(MO)
	$(BIN)/mediins replay sample_data/history
	$(BIN)/mediins replay sample_data/history --chain

## fuzz: the input readers and validate on thousands of hostile files (hypothesis, deadline off;
## `make test` runs the same properties on 50 examples each)
FUZZ_EXAMPLES ?= 2000
fuzz: $(STAMP)
	MEDIINS_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) MEDIINS_FUZZ_DEADLINE_MS=off \
		$(BIN)/python -m pytest -q tests/test_fuzz.py

## bench: whole-process wall time and peak memory of validate, both rounds, instruct and round 1
## on return files against the I/O
## floor, on generated months (1M and 10M enrollees, cached in bench-data/); prints the medians
## and appends them to bench/results.md (e.g. make bench BENCH_ARGS="--sizes 1M --repeat 1")
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

## lint: ruff (lint + format check) and mypy
lint: $(STAMP)
	$(BIN)/ruff check mediins_cli tests
	$(BIN)/ruff format --check mediins_cli tests
	$(BIN)/mypy mediins_cli

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
