"""`make sim`: simulate a run's generated RTL on its test vectors and compare with hw.golden.

    python -m sim --run build/<run> [-n N] [--split test|all] [--reuse-factor N] [--rtl DIR] [--p-valid 100] [--p-ready 100]
                  [--cocotb N [--waves]]

Regenerates the RTL exactly as `python -m hw.rtl` does (same function, same options) into DIR
(default build/<run>/rtl), streams the run's test_vectors.npz (first N clips; all if N is 0; with
`--split all` the features of every split of the run's dataset, test first, via hw.vectors)
through the compiled Verilator harness, and writes DIR/sim_report.{json,md}: "N of N identical",
latency, II, lower bound, cycles/s, inferences/s, and the accuracy of the RTL's own outputs.
`--cocotb N` also streams the first N clips through the cocotb testbench (sim/tb_stream.py, random
valid/ready) for its cycles/s next to the harness's; `--waves` records that run as DIR/dump.fst.
Exit status 1 unless every clip is identical.
"""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    from hw.rtl.reuse import DEFAULT_RF, REUSE_HELP
    from sim.rtl_run import markdown, run
    from hw.rtl.reuse import parse_reuse
    from hw.vectors import SPLITS
    from hw.tools.yosys import TARGETS

    ap = argparse.ArgumentParser(prog="python -m sim", description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True)
    ap.add_argument("-n", type=int, default=0, help="number of clips (0: the whole split)")
    ap.add_argument("--split", choices=SPLITS, default="test",
                    help="the test split saved by training (default), or every split of the run's dataset "
                         "(test, validation, train: thousands of real clips)")
    ap.add_argument("--reuse-factor", type=parse_reuse, default=parse_reuse(DEFAULT_RF), help=REUSE_HELP)
    ap.add_argument("--rtl", default=None, help="RTL directory (default build/<run>/rtl)")
    ap.add_argument("--target", default=None, choices=sorted(TARGETS),
                    help="generate the RTL as `make synth/pnr` does for this synthesis target (ice40: line "
                         "buffers in block RAM where the stream allows); default: as for a target with LUT-RAM")
    ap.add_argument("--p-valid", type=int, default=100, help="input valid probability, percent")
    ap.add_argument("--p-ready", type=int, default=100, help="output ready probability, percent")
    ap.add_argument("--cocotb", type=int, default=0, metavar="N", help="also run the cocotb bench on N clips")
    ap.add_argument("--waves", action="store_true", help="with --cocotb: write the run as an FST waveform")
    args = ap.parse_args(argv)
    r = run(args)
    print(markdown(r))
    cocotb_ok = not r.get("cocotb") or r["cocotb"]["identical"] == r["cocotb"]["total"]
    return 0 if r["identical"] == r["total"] and cocotb_ok else 1


if __name__ == "__main__":
    from hw.cli import run_main

    sys.exit(run_main(main, prog="python -m sim"))
