"""The comparison grid of the three papers: one float model per (model, seed), every QAT scheme
started from it (train.init_from), one table.

    python -m qat.experiments [--data DIR] [--full] [--only PATTERN] [--build-dir build/experiments]

Reduced grid (default; sized for well under an hour on 2 cores with the shared GSC subset):
- DS-CNN on MFCC (papers A, C): linear 8/4-bit weights, squashed+ACosR at lambda 0 and >0,
  FXP-QAT with transient formats and a 32- vs 16-bit accumulator, trained bit-widths;
- streaming FFN on log-mel (paper B): two-stage with 1/4/5/8-bit stage-1 weights, plus a DET
  curve (false rejects vs false alarms/hour) on a stream of held-out test clips over noise;
- seeds: 0 everywhere, 1 for the cheap FFN runs.
--full: full epochs, three seeds everywhere. --data DIR (or $KWS_GSC_DIR with --gsc) reads real
Speech Commands; default is the synthetic set.

--report-only [--runs-from DIR ...] tabulates finished runs without training (e.g. runs made
by parallel invocations with other --build-dir).
Modules: grid.py (the runs), results.py (rows, tables), plots.py, det_run.py, __main__.py (the loop).
Writes <build-dir>/results.csv, results.md, accuracy_vs_bits.png, weight_memory.png, macs.png,
det_ffn.png (+ det.json), and each run's folder under <build-dir>/runs/.
"""

from __future__ import annotations

from qat.experiments.grid import grid, run_config
from qat.experiments.results import row, write_outputs

__all__ = ["grid", "row", "run_config", "write_outputs"]
