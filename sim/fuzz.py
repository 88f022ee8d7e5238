"""Random-model fuzzer (Csmith/YARPGen style): QKeras == golden == C sim == RTL, bit for bit.

    python -m sim.fuzz --models N --seed S [--stages golden,csim,rtl] [--shrink] [--out DIR]

Model i is ``sim.fuzz_models.generate(S + i)``, a random QKeras model inside the supported set.
Each is checked on random and edge inputs (``make_inputs``) through the stages asked for, all
against the golden numpy model (the hub every other side is compared with):

- ``golden``: QKeras ``model(x)`` == ``GoldenModel(graph).predict(x)`` (skipped, and said so, for a
  spec with a narrow accumulator override: QKeras has no accumulator type);
- ``csim``: hls4ml's C simulation (g++ with hls4ml's own flags) == golden;
- ``rtl``: our Verilog under the compiled Verilator harness (``sim.check.compare``, with the spec's
  bubbles and backpressure) == golden's raw codes.

``check(spec)`` returns which pair differed first (in that order) and the first differing vector;
a stage that raises on a model ``check_supported`` accepts is reported as ``<stage>:error``.
``--shrink`` greedily shrinks each failing spec while the same pair still fails and writes it to
``tests/fuzz_regressions/<name>.json``, which tests/test_fuzz.py replays. Exit status 1 on any
mismatch. The C simulation is compiled in a thread while the RTL harness builds (2 cores).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from sim.fuzz_models import generate, make_inputs, supported  # noqa: E402
from sim.fuzz_shrink import shrink, size  # noqa: E402,F401  (shrink: part of this module's API)
from sim.runner import DEFAULT_BUILD_ROOT  # noqa: E402  (where sim.check's harness builds)

STAGES = ("golden", "csim", "rtl")
PAIRS = {"golden": "qkeras~golden", "csim": "golden~csim", "rtl": "golden~rtl"}
REGRESSIONS = Path(__file__).resolve().parents[1] / "tests" / "fuzz_regressions"

# Graphs check_supported accepts but hw/rtl refuses with a clear UnsupportedLayerError (found by
# this fuzzer; see the report of issue 15): the RTL stage is skipped for them and says why. Any
# other refusal is a finding (``rtl:error``).
KNOWN_RTL_GAPS = {
    "Regroup": "a Reshape (io_stream: Repack) that changes the elements per pixel before a windowed layer: "
               "the passthrough emitter keeps the stream's beat, the windowed layer refuses it",
}


def known_rtl_gap(graph) -> str | None:
    layers = list(graph.get_layers())
    for i, layer in enumerate(layers):
        cls = layer.class_name
        # (io_stream: the Reshape is a Repack, and comes right after the Input, which absorbed the
        # input quantizer; io_parallel's first Reshape after the Input re-cuts the input beats itself)
        if (cls == "Reshape" and i > 1) or cls == "Repack":
            before = tuple(layer.get_input_variable().shape)
            after = tuple(layer.get_output_variable().shape)
            windowed = any(l.class_name.startswith(("Conv", "Pointwise", "Depthwise", "Pooling")) for l in layers[i + 1:])
            if len(after) > 1 and after[-1] != before[-1] and windowed:
                return KNOWN_RTL_GAPS["Regroup"]
    return None


# Layers the sequential engine (RF=seq) refuses with an UnsupportedLayerError by design: it walks a
# chain of layers, so merges need the dataflow design (hw/rtl/sequential.py). A seq spec refused on
# one of them skips the RTL pair and says why; a refusal of any other layer is a finding.
SEQ_GAP_CLASSES = ("Merge", "Concatenate")  # hls4ml's classes of Add/Subtract/... and Concatenate


def known_seq_gap(err: Exception) -> str | None:
    from hw.errors import UnsupportedLayerError

    if isinstance(err, UnsupportedLayerError) and err.layer_class in SEQ_GAP_CLASSES:
        return f"the sequential engine has no {err.layer_class} (layer '{err.layer_name}')"
    return None


# ============================================================================ one model
def check(spec: dict, stages=STAGES, keep: Path | None = None, known_gaps: bool = True) -> dict:
    """Run a spec through the stages; {'exact', 'pair', 'vector', 'detail', 'counts', 'seconds'}.

    pair: the first pair that differs (``qkeras~golden``, ``golden~csim``, ``golden~rtl``) or
    ``<stage>:error``; vector: index of its first differing input vector (``x`` holds it).
    keep: a folder to leave the HLS project and RTL in (default: a temporary one, removed).
    known_gaps: skip the RTL pair on graphs of a known gap (KNOWN_RTL_GAPS)."""
    stages = tuple(s for s in STAGES if s in stages)
    t0 = time.perf_counter()
    with _quiet():
        model, why = supported(spec)
    if model is None:
        raise ValueError(f"spec outside the supported set: {why}")
    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="kws_fuzz_"))
    top = f"fuzz_{spec['seed']}_{os.getpid()}"  # own harness folder, removed afterwards
    res = {"exact": True, "pair": None, "vector": None, "detail": "", "counts": {}, "seconds": {}}
    try:
        return _check(spec, model, stages, work, top, res, t0, known_gaps)
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
            for d in DEFAULT_BUILD_ROOT.glob(f"harness_{top}_*"):  # the build and its .lock file
                shutil.rmtree(d, ignore_errors=True) if d.is_dir() else d.unlink(missing_ok=True)


def _check(spec, model, stages, work, top, res, t0, known_gaps):
    x = make_inputs(spec)
    try:
        graph = _convert(spec, model, work, res)
        golden = _golden_outputs(graph, x)
    except Exception as err:  # noqa: BLE001 - a crash on a supported model is a finding
        return _fail(res, "convert:error", detail=f"{type(err).__name__}: {err}")
    res["seconds"]["convert"] = time.perf_counter() - t0
    if "golden" in stages:
        if spec.get("accum") and "narrow accumulators" not in res["counts"]:  # (not refused)
            res["counts"][PAIRS["golden"]] = "skipped: narrow accumulators have no QKeras counterpart"
        elif _differs(res, "golden", x, _qkeras_outputs(model, x), golden):
            return res
    csim = None
    if "csim" in stages:
        with _quiet():
            graph.write()
        csim = ThreadPoolExecutor(1).submit(_compile, graph)  # g++ beside the Verilator build
    try:
        # (the Regroup gap is the dataflow design's: the sequential engine keeps a Repack in memory order)
        gap = known_rtl_gap(graph) if "rtl" in stages and known_gaps and spec["rtl"]["reuse_factor"] != "seq" else None
        if gap:
            res["counts"][PAIRS["rtl"]] = f"skipped: known RTL gap: {gap}"
        elif "rtl" in stages and _rtl_differs(res, spec, graph, x, golden, work, top, known_gaps):
            return res
        if csim is not None:
            t = time.perf_counter()
            try:
                csim.result()
                y_c = _csim_outputs(graph, x)
            except CsimAbort as err:
                return _fail(res, "csim:abort", detail=str(err))
            except Exception as err:  # noqa: BLE001
                return _fail(res, "csim:error", detail=f"{type(err).__name__}: {err}")
            res["seconds"]["csim_wait"] = time.perf_counter() - t
            if _differs(res, "csim", x, golden, y_c):
                return res
    finally:
        if csim is not None:
            csim.exception()  # never leave g++ running in a folder about to be removed
        res["seconds"]["total"] = time.perf_counter() - t0
    return res


def _rtl_differs(res, spec, graph, x, golden, work, top, known_gaps) -> bool:
    """The golden~rtl pair into `res`; True (and `res` says where) when it differs or errs."""
    t = time.perf_counter()
    try:
        rtl = _rtl_check(spec, graph, x, work, top)
    except Exception as err:  # noqa: BLE001 - a crash on a supported model is a finding
        gap = known_seq_gap(err) if known_gaps and spec["rtl"]["reuse_factor"] == "seq" else None
        if gap:
            res["counts"][PAIRS["rtl"]] = f"skipped: known RTL gap: {gap}"
            return False
        _fail(res, "rtl:error", detail=f"{type(err).__name__}: {err}")
        return True
    res["seconds"]["rtl"] = time.perf_counter() - t
    res["counts"][PAIRS["rtl"]] = [rtl["exact"], rtl["n"]]
    if rtl["exact"] == rtl["n"] and rtl["tlast_ok"]:
        return False
    i = rtl["first_bad"][0] if rtl["first_bad"] else None
    detail = f"{rtl['exact']} of {rtl['n']} vectors exact" + ("" if rtl["tlast_ok"] else ", TLAST wrong")
    if rtl["first_bad"] or rtl["exact"] != rtl["n"]:
        _fail(res, PAIRS["rtl"], i, x, detail=detail, a=golden[i] if i is not None else None)
    else:
        _fail(res, PAIRS["rtl"], detail=detail)
    return True


def _convert(spec, model, work, res):
    from hw.accumulators import AccumulatorRangeError, narrow_accumulators
    from hw.convert import HlsSettings, convert

    settings = HlsSettings(**spec["hls"])
    with _quiet():
        graph = convert(model, work / "prj", settings)
        if spec.get("accum"):
            try:
                over = narrow_accumulators(graph, spec["accum"]["width"], spec["accum"]["drop"])
            except AccumulatorRangeError as err:  # refused with a clear error: the model runs with its own accumulators
                res["counts"]["narrow accumulators"] = f"skipped: refused: {err}"
                return graph
            graph = convert(model, work / "prj", settings, overrides=over)
    return graph


def _qkeras_outputs(model, x):
    return np.asarray(model(x, training=False)).reshape(len(x), -1).astype(np.float64)


def _golden_outputs(graph, x):
    from sim.reference import golden_of

    return golden_of(graph).predict(x).reshape(len(x), -1)


def _compile(graph):
    with _quiet():
        graph._compile()  # written above in the main thread; this is only g++ + dlopen


class CsimAbort(RuntimeError):
    """hls4ml's C simulation killed its process (an assert inside ap_types or nnet_utils)."""


def _csim_outputs(graph, x, timeout: float = 600.0):
    """hls4ml's C simulation of x, run in a forked child: an assert inside the compiled library
    aborts the process that calls it, and the fuzzer must report that as a finding, not die of it
    (hls4ml 1.3 asserts e.g. in io_stream pooling with stride != pool and on some narrow
    accumulators). The child only calls the ctypes library and numpy, which is safe after fork."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    err = tempfile.NamedTemporaryFile(prefix="kws_csim_", suffix=".err", delete=False)
    child = ctx.Process(target=_csim_child, args=(graph, np.ascontiguousarray(x, dtype=np.float64), send, err.name))
    child.start()
    send.close()
    try:
        y = recv.recv() if recv.poll(timeout) else None
    except EOFError:  # the child died before sending
        y = None
    child.join(5)
    if child.is_alive():
        child.kill()
    why = Path(err.name).read_text(errors="replace").strip().splitlines()
    os.unlink(err.name)
    if y is None:
        raise CsimAbort(f"C simulation process ended with exit code {child.exitcode}: {why[-1] if why else 'no message'}")
    return np.asarray(y).reshape(len(x), -1)


def _csim_child(graph, x, send, err_path):
    fd = os.open(err_path, os.O_WRONLY)
    os.dup2(fd, 2)  # the assert's message, for the report
    with _quiet_fd():
        send.send(np.asarray(graph.predict(x)))
    send.close()


def _rtl_check(spec, graph, x, work, top):
    from hw.rtl import generate_rtl
    from sim.check import compare
    from sim.reference import golden_of

    r = spec["rtl"]
    design = generate_rtl(graph, work / "rtl", top=top, reuse_factor=r["reuse_factor"], argmax=r["argmax"])
    x_raw = golden_of(graph).quantize_input(x)
    return compare(design, graph, x_raw, argmax=r["argmax"], p_valid=r["p_valid"], p_ready=r["p_ready"],
                   seed=spec["seed"] % 1000 + 1)


def _differs(res, stage, x, a, b) -> bool:
    same = np.all(a == b, axis=1)
    res["counts"][PAIRS[stage]] = [int(same.sum()), len(x)]
    if same.all():
        return False
    i = int(np.argmin(same))
    _fail(res, PAIRS[stage], i, x, detail=f"{int(same.sum())} of {len(x)} vectors identical", a=a[i], b=b[i])
    return True


def _fail(res, pair, vector=None, x=None, detail="", a=None, b=None):
    res.update(exact=False, pair=pair, vector=vector, detail=detail)
    if vector is not None:
        res["x"] = np.asarray(x[vector]).reshape(-1).tolist()
    for key, v in (("a", a), ("b", b)):
        if v is not None:
            res[key] = np.asarray(v).reshape(-1).tolist()
    return res


@contextlib.contextmanager
def _quiet():
    """hls4ml prints every layer and TF warns: keep the fuzzer's output to its one line."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def _quiet_fd():
    """The C simulation writes to file descriptor 1 itself (hls::stream warnings)."""
    sys.stdout.flush()
    saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    try:
        with _quiet():
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


# ============================================================================ shrinking
def same_failure(pair: str, stages=STAGES, known_gaps: bool = True):
    """The shrinker's predicate: the candidate still fails with this pair."""
    def fails(cand):
        try:
            return check(cand, stages, known_gaps=known_gaps)["pair"] == pair
        except ValueError:
            return False
    return fails


def save_regression(spec: dict, result: dict, name: str | None = None, folder: Path = REGRESSIONS) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = name or f"seed{spec['seed']}_{result['pair'].replace('~', '_vs_').replace(':', '_')}"
    path = folder / f"{name}.json"
    record = {"found": {k: result.get(k) for k in ("pair", "vector", "detail", "x", "a", "b")}, "spec": spec}
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


# ============================================================================ command line
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m sim.fuzz", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=int, default=20)
    p.add_argument("--seed", type=int, default=0, help="model i uses seed SEED + i")
    p.add_argument("--stages", default=",".join(STAGES), help="comma list of golden, csim, rtl")
    p.add_argument("--shrink", action="store_true", help="shrink every failing model and save it as a regression")
    p.add_argument("--out", default=str(REGRESSIONS), help="folder for shrunk specs")
    p.add_argument("--log", help="write one JSON line per model to this file")
    p.add_argument("--byo", action="store_true", help="also binary/ternary kernels and fused activations")
    args = p.parse_args(argv)
    stages = tuple(s.strip() for s in args.stages.split(",") if s.strip())
    if set(stages) - set(STAGES):
        print(f"error: unknown stage(s) {sorted(set(stages) - set(STAGES))}; have {STAGES}", file=sys.stderr)
        return 2
    from tqdm import tqdm

    failures, skipped, log = [], 0, open(args.log, "w") if args.log else None
    bar = tqdm(range(args.seed, args.seed + args.models), desc="fuzz", unit="model", file=sys.stderr)
    for seed in bar:
        spec = generate(seed, byo=args.byo)
        res = check(spec, stages)
        skipped += sum(isinstance(v, str) for v in res["counts"].values())
        if log:
            log.write(json.dumps({"seed": seed, **{k: res.get(k) for k in ("exact", "pair", "detail", "counts", "seconds")}}) + "\n")
            log.flush()
        if not res["exact"]:
            failures.append((seed, spec, res))
            bar.set_postfix(failed=len(failures))
    bar.close()
    print(f"{args.models - len(failures)} of {args.models} models exact (seeds {args.seed}..{args.seed + args.models - 1},"
          f" stages {','.join(stages)}; {skipped} pairs skipped on known gaps)")
    for seed, spec, res in failures:
        line = f"  seed {seed}: {res['pair']} at vector {res['vector']}: {res['detail']}"
        if args.shrink:
            small, n = shrink(spec, same_failure(res["pair"], stages))
            path = save_regression(small, check(small, stages), folder=Path(args.out))
            line += f"; shrunk in {n} checks to {size(small)[0]} layers -> {path}"
        print(line)
    return 1 if failures else 0


if __name__ == "__main__":
    from hw.cli import run_main

    sys.exit(run_main(main, prog="python -m sim.fuzz"))
