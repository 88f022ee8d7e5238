"""GoldenModel: the bit-accurate numpy twin of an hls4ml ModelGraph.

Built only from the graph (layer order, attributes, weights as stored, and every precision the
graph carries); it never looks at the Keras model. Tensors flow as raw integer codes plus their
FixedType, so each layer is exact integer arithmetic.

Speed: every kernel is planned once here (input type + a bound on the input codes, see
``hw.golden.arith``), codes are held in float32 or float64 wherever that is exact, and the batch is
processed in chunks (``GoldenModel.chunk``).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import numpy as np

from hw.errors import UnsupportedLayerError
from hw.golden import loops
from hw.golden.activation import ActivationKernel
from hw.golden.arith import Range, exact_dtype
from hw.golden.registry import kernel_for
from qat.fixed import FixedType


@dataclass
class Stage:
    name: str
    layer_class: str
    kernel: object
    out_t: FixedType
    out_range: Range
    inputs: tuple[str, ...] = ()  # names of the tensors it reads (hls4ml output variables)
    output: str = ""  # name of the tensor it writes
    more_outputs: tuple[str, ...] = ()  # further tensors it writes (io_stream's Clone: one copy per reader)
    copy_inputs: tuple[bool, ...] = ()  # True: another stage reads that tensor later, pass a copy


@dataclass
class Throughput:
    per_cpu_second: float  # inferences per CPU-second of this process (= one core when threads=1)
    per_wall_second: float
    vectors: int
    threads: int

    def __str__(self) -> str:
        return (f"{self.per_cpu_second:.0f} inferences/s per core (CPU time; {self.per_wall_second:.0f}/s wall clock, "
                f"{self.vectors} vectors, {self.threads} BLAS thread{'s' if self.threads != 1 else ''})")


class GoldenModel:
    #: vectors per chunk. Compiled: each stage costs some microseconds per call (Python, numba dispatch)
    #: whatever the chunk, and the fused kernels no longer need the tensors in the L2 cache: the DS-CNN runs
    #: ~10 % faster at 128 than at 32 (25x5x64 float32 codes of 128 vectors: 4 MiB); 256 is slower for the
    #: raw CNN. numpy form: several passes per layer, 32 vectors (1 MiB, one core's L2 here) is ~25 % faster
    chunk = 128 if loops.AVAILABLE else 32

    def __init__(self, hls_model, make_kernel=kernel_for):
        """Plan every layer in graph order; each reads its named inputs, so a DAG (a residual
        block's fork and Add) is evaluated like a chain. hls4ml lists layers topologically.
        `make_kernel(layer)` builds each layer's kernel (hw.stream.golden gives kernels the
        geometry of one time step)."""
        layers = list(hls_model.get_layers())
        self.stages: list[Stage] = []
        planned: dict[str, tuple[FixedType, Range]] = {}  # tensor name -> (type, bound on its codes)
        for layer in layers:
            inputs = tuple(i for i in layer.inputs if i) if self.stages else ()
            missing = [i for i in inputs if i not in planned]
            if missing:
                raise UnsupportedLayerError(layer.name, type(layer).__name__, f"reads {missing}, which no earlier layer writes")
            kernel = make_kernel(layer)
            n_in = getattr(kernel, "n_inputs", 1)
            if self.stages and len(inputs) != n_in:
                raise UnsupportedLayerError(layer.name, type(layer).__name__, f"{len(inputs)} inputs, its kernel takes {n_in}")
            if not self.stages:  # the input layer: its codes are whatever quantize_input produced
                out_range = kernel.plan(kernel.out_t, Range.of_type(kernel.out_t))
            elif n_in == 1:
                out_range = kernel.plan(*planned[inputs[0]])
            else:
                out_range = kernel.plan([planned[i][0] for i in inputs], [planned[i][1] for i in inputs])
            output, *more = layer.outputs
            for name in layer.outputs:
                planned[name] = (kernel.out_t, out_range)
            self.stages.append(Stage(layer.name, type(layer).__name__, kernel, kernel.out_t, out_range, inputs, output,
                                     tuple(more)))
        # Kernels may overwrite their input in place: a tensor read by several stages (a fork) is
        # handed as a copy to all but its last reader. A chain has no such tensor and no copy.
        last_reader = {t: i for i, s in enumerate(self.stages) for t in s.inputs}
        for i, s in enumerate(self.stages):
            s.copy_inputs = tuple(last_reader[t] != i for t in s.inputs)
        # Fusion: a MAC layer whose only reader is the next stage, an activation, converts its
        # sums straight into the activation's type in its output pass (Mac.fuse: only where that
        # is the same arithmetic). The activation stage is then skipped, except in a trace.
        self._fused_stages: dict[int, object] = {}  # index of the skipped activation -> its Mac
        for i, (s, nxt) in enumerate(zip(self.stages, self.stages[1:])):
            mac = getattr(s.kernel, "mac", None)
            readers = [j for j, o in enumerate(self.stages) if s.output in o.inputs]
            if (mac is not None and isinstance(nxt.kernel, ActivationKernel) and nxt.inputs == (s.output,)
                    and readers == [i + 1] and not s.more_outputs and mac.fuse(nxt.kernel.requant)):
                self._fused_stages[i + 1] = mac
        self.input_t = self.stages[0].out_t
        self.input_dtype = exact_dtype(Range.of_type(self.input_t).absmax)
        self.output_t = self.stages[-1].out_t
        self.output_shape = tuple(layers[-1].get_output_variable().shape)

    def quantize_input(self, x) -> np.ndarray:
        """Float features -> raw input codes (what the C simulation does to its float input)."""
        return self.input_t.quantize(np.asarray(x, dtype=np.float64))

    def run_raw(self, x_raw: np.ndarray, trace: bool = False):
        """Raw input codes (batch first) -> raw int64 output codes [, {layer: (raw int64, FixedType)}]."""
        x_raw = np.asarray(x_raw)
        if x_raw.dtype.kind not in "iu":
            raise TypeError(f"run_raw needs integer raw codes, got dtype {x_raw.dtype}")
        if not self.input_t.fits(x_raw):  # all of it before any work (one min and one max pass)
            raise ValueError(f"input codes outside {self.input_t}; use quantize_input for float inputs")
        outs, records = [], []
        for mac in self._fused_stages.values():
            mac.fused = not trace
        for start in range(0, max(len(x_raw), 1), self.chunk):
            x = x_raw[start : start + self.chunk].astype(self.input_dtype)
            record, tensors = {}, {}
            for index, stage in enumerate(self.stages):
                if not trace and index in self._fused_stages:  # its Mac already converted the tensor
                    x = tensors[stage.output] = tensors.pop(stage.inputs[0])
                elif stage.inputs:
                    args = [np.array(tensors[t]) if copy else tensors[t] for t, copy in zip(stage.inputs, stage.copy_inputs)]
                    for t, copy in zip(stage.inputs, stage.copy_inputs):
                        if not copy:
                            del tensors[t]  # last reader: free it
                    x = stage.kernel(*args)
                else:
                    x = stage.kernel(x)
                tensors[stage.output] = x
                for name in stage.more_outputs:  # own arrays: a reader may overwrite its input in place
                    tensors[name] = np.array(x)
                if trace:  # kernels may overwrite their input: trace keeps copies
                    record[stage.name] = np.array(x, dtype=np.int64)
            x = tensors[self.stages[-1].output]
            outs.append(np.asarray(x).astype(np.int64))
            records.append(record)
        y = np.concatenate(outs)
        if not trace:
            return y
        full = {s.name: (np.concatenate([r[s.name] for r in records]), s.out_t) for s in self.stages}
        return y, full

    def predict(self, x) -> np.ndarray:
        """Float input -> float output values (exact values of the output type)."""
        raw = self.run_raw(self.quantize_input(x))
        return self.output_t.to_float(raw).reshape(raw.shape[0], *self.output_shape)

    def trace(self, x) -> dict[str, np.ndarray]:
        """Float input -> {layer name: float values of that layer's output}."""
        _, record = self.run_raw(self.quantize_input(x), trace=True)
        return {name: t.to_float(raw).reshape(raw.shape[0], -1) for name, (raw, t) in record.items()}

    def argmax(self, x) -> np.ndarray:
        """Class decision (first maximum, like np.argmax and an RTL comparator chain)."""
        return np.argmax(self.run_raw(self.quantize_input(x)).reshape(len(x), -1), axis=1)

    def throughput(self, x, repeats: int = 3, threads: int = 1, min_vectors: int = 1000) -> "Throughput":
        """Inferences per second of ``run_raw`` on float inputs ``x`` (best of ``repeats``), with
        BLAS limited to ``threads`` threads (one core by default). Fewer than ``min_vectors``
        inputs are tiled so that the timing is not dominated by per-call overhead.

        Both rates are measured: per CPU-second of this process (what one core delivers, robust
        to other jobs sharing the machine) and per wall-clock second (what this run saw)."""
        raw = self.quantize_input(x)
        if len(raw) < min_vectors:
            raw = np.concatenate([raw] * -(-min_vectors // max(len(raw), 1)))
        cpu = wall = float("inf")
        with _blas_threads(threads):
            for _ in range(repeats):
                c0, w0 = time.process_time(), time.perf_counter()
                self.run_raw(raw)
                cpu, wall = min(cpu, time.process_time() - c0), min(wall, time.perf_counter() - w0)
        return Throughput(len(raw) / max(cpu, 1e-9), len(raw) / max(wall, 1e-9), len(raw), threads)

    def summary(self) -> list[dict]:
        return [{"name": s.name, "class": s.layer_class, "type": s.out_t.to_hls(), "inputs": list(s.inputs)}
                for s in self.stages]


@contextlib.contextmanager
def _blas_threads(n: int):
    """Limit BLAS/OpenMP threads (threadpoolctl when installed; else rely on OPENBLAS_NUM_THREADS)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(limits=n):
        yield
