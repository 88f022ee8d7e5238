"""Sweeps of committed run configs, cross-validated, on Ray: the comparison of the three papers'
QAT schemes (and their float/linear baselines) in one table.

    python -m qat.experiments [--sweep configs/sweeps/papers.yaml] [--address HOST:PORT] [--jobs N]
                              [--data DIR] [--build-dir build/experiments] [--no-ray] [--report-only]

The sweep file (format: qat/experiments/sweep.py) lists configs under configs/, seeds and folds;
each (config, seed, fold) is one ordinary training run of qat.cv (the float run a quantized config
starts from is trained first, once, and the QAT runs of that fold and seed start from it). Each
run is a Ray task: on this machine by default (`ray.init`, --jobs runs at once, default the CPU
count), on an existing cluster with --address or $RAY_ADDRESS. Finished runs (metrics.json of the
same settings) are skipped, so an interrupted sweep resumes where it stopped.

Writes <build-dir>/<name>[_<tag>]_k<K>_s<seed>_f<fold>/ per run (its log beside it) and
results.csv, results.md (one row per config: CV accuracy mean ± std over seeds, Δ vs float, bits
per parameter, weight memory, MACs, params), accuracy_vs_bits.png, accuracy_vs_cost.png and, for
entries with `det: true`, det_ffn.png + det.json (each config's DET pooled over its finished runs,
`qat.det.pool_det`).
Modules: sweep.py (the file, its runs, the schedule), ray_runner.py (Ray), results.py, plots.py,
__main__.py (the command).
The architecture search of paper C makes its configs at run time; it keeps its own command:
`python -m qat.nas --features mfcc|raw [--retrain]`.
"""
