"""`make rtl`: generate the streaming Verilog IP of a trained run.

    python -m hw.rtl --run build/<run> [--reuse-factor 64 | 64,dw1=128 | 64,balance] [--out DIR] [--argmax] [--lint]

Writes DIR (default build/<run>/rtl/): one .v per layer + weight ROMs + library modules, files.f,
kws_top.core (FuseSoC), report.{json,md}. Exit 2 (and no RTL left behind) if a layer is unsupported; 1 if --lint finds problems.
"""

from __future__ import annotations

import argparse
import sys

from hw.rtl.reuse import DEFAULT_RF, REUSE_HELP, parse_reuse


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hw.rtl", description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True, help="training run folder (model.h5, config.yaml)")
    ap.add_argument("--reuse-factor", type=parse_reuse, default=DEFAULT_RF, help=REUSE_HELP)
    ap.add_argument("--out", default=None, help="output directory (default build/<run>/rtl)")
    ap.add_argument("--argmax", action="store_true", help="append the class-index output stage")
    ap.add_argument("--lint", action="store_true", help="run verilator --lint-only -Wall on the result")
    args = ap.parse_args(argv)

    from hw.rtl.run import generate_for_run

    # a refused model or a missing run: hw.cli.run_main prints the error: line (exit 2)
    design, _ = generate_for_run(args.run, args.out, args.reuse_factor, args.argmax)
    r = design.report
    print(f"{design.out_dir}: {len(design.files)} files, {r['multipliers']} multipliers, ROM {r['rom_bits']} bits, "
          f"expected II ~{r['expected_ii_cycles']} cycles")
    if args.lint:
        from hw.tools.verilator import verilator_lint

        problems = verilator_lint(design.files, design.top)
        print("lint: clean" if not problems else problems)
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    from hw.cli import run_main

    sys.exit(run_main(main, prog="python -m hw.rtl"))
