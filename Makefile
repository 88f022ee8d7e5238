# kwsflow: QAT in QKeras → hls4ml → fixed-point model → RTL → Verilator.
# `make demo` and `make test` are the two commands a new user needs; both set up first.
# demo: train (offline data) → hls4ml + C sim → RTL → Verilator → build/demo/flow_report.md

PYTHON_SYS ?= python3.11
VENV       ?= .venv
PY         := $(VENV)/bin/python
KWSFLOW    := $(VENV)/bin/kwsflow
BUILD      ?= build
CONFIG     ?= configs/dscnn_linear8.yaml
RUN        ?= demo
# Real Speech Commands data for `make train-gsc` and the data tests (never committed here).
KWS_GSC_DIR ?= $(abspath ../shared/data/speech_commands_v0.02)
export KWS_GSC_DIR
PYTEST_ARGS ?=

.PHONY: setup system-deps demo train train-gsc cv cv-table scale-check evaluate hls rtl sim stream report synth pnr plan acc-compare experiments compare fuzz test test-all clean help

help:
	@echo "make demo        set up, then train the offline demo (synthetic keywords) and report"
	@echo "make test        set up, then run the default test suite"
	@echo "make test-all    also the slow tests"
	@echo "make train CONFIG=configs/x.yaml [DATA=dir]   train one run into $(BUILD)/<name>/"
	@echo "make train-gsc CONFIG=...                     the same on \$$KWS_GSC_DIR"
	@echo "make evaluate RUN=name [DATA=dir]             evaluate build/<name> on a dataset"
	@echo "make rtl RUN=name [RF=64]                     Verilog + file list + FuseSoC core in build/<name>/rtl/"
	@echo "make sim RUN=name [RF=64] [N=200] [SPLIT=all] [TARGET=ice40]  Verilator: RTL == golden model, latency/II in cycles (TARGET: the RTL make synth/pnr builds for it)"
	@echo "make stream RUN=name [RF=64] [STREAM_SECONDS=3600]   always-on IP: streaming RTL + detector on an hour of audio, DET, cycles/hop"
	@echo "make report RUN=name                          one page over all stages: build/<name>/flow_report.md"
	@echo "make synth RUN=name [RF=64] [TARGET=ice40] [STREAM=1]   Yosys LUT/FF/BRAM of the generated RTL, per layer (STREAM=1: the always-on IP)"
	@echo "make pnr RUN=name PART=part [CLOCK_MHZ=..] [RF=64] [STREAM=1]  nextpnr: fits the part? fmax vs the clock (PART= lists the parts)"
	@echo "make plan RUN=name PART=part CLOCK_MHZ=.. RATE=.. [CHECK=N]  per-layer RFs: fewest multipliers meeting RATE inferences/s"
	@echo "make acc-compare [RF=64]                      paper A: 16- vs 32-bit accumulator DS-CNN in RTL, side by side"
	@echo "make cv CONFIG=configs/gsc/x.yaml [FOLDS=5] [SEEDS=\"0 1 2\"] [JOBS=2] [DET=1] [ENSEMBLE=1]  speaker-grouped K-fold CV → build/cv/ (DET=1: + pooled DET on streams; ENSEMBLE=1: + the seeds as one ensemble)"
	@echo "make cv-table                                   every finished CV + testing-list run: build/cv/results.{md,png}"
	@echo "make scale-check                              data path on a generated 100k-clip archive: peak RSS per stage"
	@echo "make experiments [SWEEP=configs/sweeps/papers.yaml] [ADDRESS=host:port] [JOBS=2]  a sweep of configs, cross-validated, as Ray tasks → build/experiments/"
	@echo "make hls RUN=name                             hls4ml project + C sim, QKeras == golden == C sim"
	@echo "make compare                                  our RTL vs da4ml on one small MLP: LUT/FF, latency, exactness"
	@echo "make fuzz [MODELS=200] [SEED=1000]            random QKeras models: QKeras == golden == C sim == RTL; failures shrunk"

setup: $(VENV)/.installed system-deps

# Re-installs only when pyproject.toml changes, so a second `make setup` takes a second.
# A venv that is a link to another checkout's (a git worktree sharing one install) is left alone:
# an editable install from here would re-point the other checkout's packages at this tree.
ifeq ($(shell [ -L $(VENV) ] && echo link),link)
$(VENV)/.installed: pyproject.toml
	@echo "note: $(VENV) links to another checkout's venv: not reinstalled from here"
else
$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON_SYS) >/dev/null || { echo "error: $(PYTHON_SYS) not found (TensorFlow 2.15 needs Python 3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e '.[hw,sweep,dev]'
	touch $@
endif

# Debian packages: espeak-ng synthesizes the offline demo data; liblz4-dev lets Verilator write
# FST waveforms (`make sim ... WAVES=1`); iverilog is the second simulator of the small designs.
system-deps:
	@missing=""; command -v espeak-ng >/dev/null || missing="espeak-ng"; \
	  [ -f /usr/include/lz4.h ] || missing="$$missing liblz4-dev"; \
	  command -v iverilog >/dev/null || missing="$$missing iverilog"; \
	  if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:$$missing"; \
	    if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
	    elif command -v sudo >/dev/null; then sudo apt-get update -qq && sudo apt-get install -y -qq $$missing >/dev/null; \
	    else echo "error: missing$$missing and I cannot install it: run 'apt-get install$$missing' as root"; exit 1; fi; fi

demo: setup
	$(KWSFLOW) train --config configs/demo.yaml --build-dir $(BUILD)
	$(MAKE) --no-print-directory hls RUN=demo SPLIT=test
	$(MAKE) --no-print-directory sim RUN=demo N=0
	$(MAKE) --no-print-directory report RUN=demo

train: setup
	$(KWSFLOW) train --config $(CONFIG) --build-dir $(BUILD) $(if $(DATA),--data $(DATA))

train-gsc: setup
	$(KWSFLOW) train --config $(CONFIG) --build-dir $(BUILD) --data $(KWS_GSC_DIR)

# Speaker-grouped K-fold cross-validation on $$KWS_GSC_DIR: every clip scored once per seed.
FOLDS ?= 5
SEEDS ?= 0 1 2
JOBS  ?= 2
DET   ?=
ENSEMBLE ?=
cv: setup
	$(KWSFLOW) cv --config $(CONFIG) --data $(KWS_GSC_DIR) --folds $(FOLDS) --seeds $(SEEDS) --jobs $(JOBS) --build-dir $(BUILD)/cv $(if $(DET),--det) $(if $(ENSEMBLE),--ensemble)

# Every finished CV (and the testing-list run of the same config) in one table + plot.
cv-table: setup
	$(KWSFLOW) cv-table --cv-dir $(BUILD)/cv --build-dir $(BUILD)

# The data path at full-archive scale: a generated 100k-clip archive, peak RSS and wall time per stage.
scale-check: setup
	$(PY) -m qat.data.scale_check --clips 100000 --out /tmp/kws_scale

evaluate: setup
	$(KWSFLOW) evaluate --run $(BUILD)/$(RUN) $(if $(DATA),--data $(DATA))

# SPLIT=all|test, N=<vectors>, IO="io_parallel io_stream" (default: the run's hls: section).
hls: setup
	$(KWSFLOW) hls --run $(BUILD)/$(RUN) --split $(or $(SPLIT),all) $(if $(N),-n $(N)) $(if $(IO),--io-type $(IO))

# Our open RTL from the hls4ml graph. RF = reuse factor (multipliers = MACs per output / RF;
# RF=seq: one sequential engine, one multiplier for every layer - the smallest design):
# RF=64 | RF=64,dw1=128 (per layer) | RF=64,balance (same II, each layer as slow as the slowest).
RF ?= 64
rtl: setup
	$(KWSFLOW) rtl --run $(BUILD)/$(RUN) --reuse-factor $(RF) --lint

# The generated IP under Verilator on the run's test clips, bit for bit against the golden model.
# WAVES=1: also the cocotb bench on 2 clips, recorded as build/<run>/rtl/dump.fst.
sim: setup
	$(KWSFLOW) sim --run $(BUILD)/$(RUN) --reuse-factor $(RF) $(if $(N),-n $(N)) $(if $(SPLIT),--split $(SPLIT)) $(if $(filter command line,$(origin TARGET)),--target $(TARGET)) $(if $(WAVES),--cocotb 2 --waves)

# The always-on IP of a run (its `stream:` settings): streaming RTL + keyword detector, an hour of
# testing-list audio through it under Verilator (every decision against the streaming golden
# model), cycles per hop, DET curves; COMPARE="build/x build/y" overlays those runs' curves.
STREAM_SECONDS ?= 3600
stream: setup
	$(KWSFLOW) stream --run $(BUILD)/$(RUN) --data $(KWS_GSC_DIR) --reuse-factor $(RF) --seconds $(STREAM_SECONDS) $(if $(COMPARE),--compare $(COMPARE))

report: setup
	$(KWSFLOW) report --run $(BUILD)/$(RUN)

# Yosys (yowasp) LUT/FF/carry/BRAM of the generated RTL, per layer; TARGET=ice40|xilinx|generic.
TARGET ?= ice40
synth: setup
	$(KWSFLOW) synth --run $(BUILD)/$(RUN) --reuse-factor $(RF) --target $(TARGET) $(if $(STREAM),--stream)

# nextpnr (yowasp) place and route of the whole generated top on a named part, e.g.
# PART=ice40-up5k-sg48 | ice40-hx8k-ct256 | ecp5-25k-cabga381 (an empty PART lists them all);
# CLOCK_MHZ defaults to the part's board clock. Report: build/<run>/pnr/pnr_report_<part>_rf<RF>_<clock>mhz.md
# (STREAM=1: the always-on IP of `make stream`, pnr_report_<part>_stream_rf<RF>_<clock>mhz.md)
PART ?=
pnr: setup
	$(KWSFLOW) pnr --run $(BUILD)/$(RUN) --reuse-factor $(RF) $(if $(PART),--part $(PART)) $(if $(CLOCK_MHZ),--clock-mhz $(CLOCK_MHZ)) $(if $(STREAM),--stream)

# Real-time planner: per-layer reuse factors with the fewest multipliers whose II meets RATE
# inferences/s at CLOCK_MHZ on PART; CHECK=N also simulates N test clips at the chosen plan.
# Report: build/<run>/plan/plan_<part>_<clock>mhz_<rate>ips.md
plan: setup
	$(KWSFLOW) plan --run $(BUILD)/$(RUN) --part $(PART) --clock-mhz $(CLOCK_MHZ) --rate $(RATE) $(if $(CHECK),--check $(CHECK))

# Paper A in hardware: the FXP-QAT DS-CNN with 16- vs 32-bit accumulators (train both first:
# make train-gsc CONFIG=configs/gsc/dscnn_fxp4_acc16.yaml, then ..._acc32.yaml).
acc-compare: setup
	$(PY) -m sim.studies.acc_compare --runs $(BUILD)/gsc_dscnn_fxp4_acc16 $(BUILD)/gsc_dscnn_fxp4_acc32 --reuse-factor $(RF) --target $(TARGET) --jobs 2 --out $(BUILD)/acc_compare

# A sweep file's configs x seeds x folds (speaker-grouped CV, as `make cv`), each run a Ray task: on this
# machine (JOBS runs at once) or on an existing cluster (ADDRESS=host:port or $$RAY_ADDRESS); finished
# runs are skipped; results.{csv,md} + plots in build/experiments/<sweep>/. Data: $$KWS_GSC_DIR.
SWEEP ?= configs/sweeps/papers.yaml
experiments: setup
	$(KWSFLOW) experiments --sweep $(SWEEP) --jobs $(JOBS) --build-dir $(BUILD)/experiments $(if $(ADDRESS),--address $(ADDRESS))

# Our RTL generator vs da4ml on one small quantized MLP, both through the same Yosys script.
# Random-model fuzzer: every model through every stage; a failure is shrunk and saved under
# tests/fuzz_regressions/ (replayed by the test suite).
MODELS ?= 200
SEED ?= 1000
fuzz: setup
	@mkdir -p $(BUILD)/fuzz
	$(KWSFLOW) fuzz --models $(MODELS) --seed $(SEED) --shrink --log $(BUILD)/fuzz/seeds_$(SEED)_$(MODELS).jsonl

compare: setup
	$(KWSFLOW) compare --out $(BUILD)/compare

# The suite on TEST_JOBS pytest-xdist workers (default: the 2 cores of the machines it is sized for);
# a test file stays on one worker (--dist loadfile), since some files' tests build on each other's
# designs; Verilator builds of one design are serialized by a file lock (sim/runner.py).
TEST_JOBS ?= 2
test: setup
	$(PY) -m pytest -m "not slow" -n $(TEST_JOBS) --dist loadfile $(PYTEST_ARGS)

test-all: setup
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadfile $(PYTEST_ARGS)

clean:
	rm -rf $(BUILD) .pytest_cache
