"""Golden-model throughput: inferences/s of ``GoldenModel.run_raw`` on one core.

    python -m hw.golden.bench                          # DS-CNN, 8-bit, random weights, 2,000 inputs
    python -m hw.golden.bench --model dscnn --bits 4
    python -m hw.golden.bench --model tc_resnet --io io_stream
    python -m hw.golden.bench --run build/gsc_dscnn_linear8   # a trained run
    KWS_GOLDEN_NUMBA=0 python -m hw.golden.bench       # the numpy-only form (no compiled loops)

Prints one line per model: inferences per CPU-second of this process with one BLAS thread (what
one core delivers, robust to other jobs on the machine) and per wall-clock second, best of
``--repeats``. Random models are the project's architectures (``qat.models``) with weights drawn
uniformly from [-1, 1] before quantization (as sim/testmodels.py's ``kws_model``, which hw must not
import), inputs normal(0, 1.2) features.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

INPUT_SHAPES = {"dscnn": (49, 10, 1), "tc_resnet": (49, 10, 1), "streaming_ffn": (1960,), "raw_cnn": (16000, 1)}


def random_model(name: str, bits: int, seed: int = 0):
    from qat.models import build_model
    from qat.quant_config import QuantConfig

    model = build_model(name, INPUT_SHAPES[name], 12, QuantConfig(weight_bits=bits, act_bits=bits))
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            layer.set_weights([rng.uniform(-1, 1, w.shape).astype(np.float32) for w in ws])
    return model


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="dscnn", choices=sorted(INPUT_SHAPES))
    p.add_argument("--bits", type=int, default=8)
    p.add_argument("--run", help="a trained run directory (model.h5) instead of a random model")
    p.add_argument("--io", default="io_parallel", choices=["io_parallel", "io_stream"])
    p.add_argument("-n", type=int, default=2000, help="inputs per timed call")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="BLAS threads")
    args = p.parse_args(argv)

    from hw.convert import HlsSettings, convert, load_run
    from hw.golden import GoldenModel, loops

    if args.run:
        model, _ = load_run(args.run)
        label = args.run
    else:
        model = random_model(args.model, args.bits)
        label = f"{args.model} {args.bits}-bit (random weights)"
    with tempfile.TemporaryDirectory() as tmp:
        golden = GoldenModel(convert(model, Path(tmp) / "prj", HlsSettings(io_type=args.io)))
    x = np.random.default_rng(2).normal(0, 1.2, size=(args.n, *model.input_shape[1:])).astype(np.float32)
    golden.run_raw(golden.quantize_input(x[:64]))  # compile the loops (cached on disk after the first run)
    rate = golden.throughput(x, repeats=args.repeats, threads=args.threads)
    form = "compiled loops" if loops.AVAILABLE else "numpy only"
    print(f"{label}, {args.io}, {form}: {rate}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
