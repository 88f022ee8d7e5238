"""`kwsflow`: one command for the whole chain; each subcommand is the module the Makefile runs.

    kwsflow [-v] [--debug] <subcommand> [args]      (kwsflow <subcommand> --help for its options)

Quiet by default (TensorFlow's and hls4ml's chatter dropped; -v keeps it); a refused model or a bad
file is one ``error:`` line and exit status 2 (--debug shows the traceback instead); see hw/cli.py.
"""

from __future__ import annotations

import sys
from importlib import import_module

# name -> (module:function, one line of help). Order = the order of the chain.
SUBCOMMANDS = {
    "train": ("qat.train:main", "train one run from a config (QAT in QKeras) into build/<name>/"),
    "evaluate": ("qat.evaluate:main", "evaluate a trained run on a dataset"),
    "cv": ("qat.cv:main", "speaker-grouped K-fold cross-validation of a config"),
    "cv-table": ("qat.cv_table:main", "every finished CV run in one table and plot"),
    "experiments": ("qat.experiments.__main__:main", "a sweep of configs (configs/sweeps/), cross-validated, as Ray tasks"),
    "hls": ("hw.hls:main", "hls4ml project + C simulation of a run: QKeras == golden == C sim"),
    "rtl": ("hw.rtl.__main__:main", "our Verilog of a run (file list, FuseSoC core, report)"),
    "sim": ("sim.__main__:main", "a run's RTL under Verilator: RTL == golden, latency and II in cycles"),
    "hw": ("sim.model_check:main", "your own QKeras model (.h5) + inputs through golden, C sim and RTL"),
    "stream": ("sim.studies.stream_study:main", "the always-on IP of a run on an hour of audio: exactness, cycles per hop, DET"),
    "synth": ("hw.synth:main", "Yosys resources of a run's RTL, per layer"),
    "pnr": ("hw.pnr:main", "nextpnr place and route of a run's RTL on a named FPGA part"),
    "plan": ("sim.realtime_plan:main", "per-layer reuse factors: fewest multipliers that meet a rate on a part"),
    "report": ("sim.studies.flow_report:main", "one page over every stage of a run"),
    "compare": ("sim.studies.compare_da4ml:main", "our RTL vs da4ml on one small MLP"),
    "fuzz": ("sim.fuzz:main", "random QKeras models through every stage"),
}


def usage() -> str:
    width = max(map(len, SUBCOMMANDS))
    rows = [f"  {name:<{width}}  {text}" for name, (_, text) in SUBCOMMANDS.items()]
    return ("usage: kwsflow [-v] [--debug] <subcommand> [args]\n\nsubcommands:\n" + "\n".join(rows)
            + "\n\n-v: keep TensorFlow's and hls4ml's messages; --debug: tracebacks instead of error: lines\n")


def resolve(name: str):
    module, func = SUBCOMMANDS[name][0].split(":")
    return getattr(import_module(module), func)


def main(argv=None) -> int:
    from hw.cli import run_main

    argv = list(sys.argv[1:] if argv is None else argv)
    flags = [a for a in argv if a in ("-v", "--verbose", "--debug")]
    rest = [a for a in argv if a not in flags]
    if not rest or rest[0] in ("-h", "--help", "help"):
        print(usage(), end="")
        return 0
    name, args = rest[0], rest[1:]
    if name not in SUBCOMMANDS:
        print(f"error: unknown subcommand {name!r}; use one of: {', '.join(SUBCOMMANDS)}", file=sys.stderr)
        return 2
    return run_main(lambda a: resolve(name)(a), flags + args, prog=f"kwsflow {name}")


if __name__ == "__main__":
    sys.exit(main())
