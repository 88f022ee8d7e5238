"""Compiled Verilator testbench without per-cycle Python, for large exactness sweeps.

The C++ main streams input beats read from a file into the generated top level with pseudo-random
valid gaps and ready backpressure (same handshake rules as sim/tb_stream.py), writes every output
beat to a file and prints cycle counts, wall and CPU time as JSON. Python packs the beats and
compares them with the reference: the comparison itself stays exact and in one place.

Speed (measured on the RF-64 DS-CNN): nearly all time is the model's own eval (the harness loop
is ~0.3 % of the instructions), so the levers are the C++ build and the build time itself:
- the model is compiled with OPT_FAST=-O2 (Verilator's default -Os leaves VL_* helpers such as
  wide zeroing and signed multiplies as calls; -O2 inlines them: ~1.3x fewer instructions);
- beats travel as little-endian 32-bit words in binary files (no hex text on either side),
  decoded once before the first cycle; output beats and probe records are kept in memory and
  written once at the end; the probe loop is compiled only into the probe variant of the loop;
- Verilator's run-time library (verilated.cpp, verilated_threads.cpp, verilated_dpi.cpp: ~9 s
  of g++ per build, most of a small design's build) is compiled once per build root and
  compiler command, then copied into each new model directory before make runs;
- the library RTL is written in forms Verilator compiles well, with the same synthesis result:
  kws_requant sign-extends with $signed, kws_pool_div's > 64-bit product is computed once per
  cycle, kws_frame_store rotates its compute copy in place (no shadow copy of the frame): 85 ->
  143 RF-64 DS-CNN inferences per CPU-second.
Both evals per cycle are needed: Verilator finds the rising edge by comparing clk with its value
at the previous eval, and an output may depend on an input through combinational stages (the
input-combinational region). Tried and not kept: OPT_FAST=-O3 (2 % fewer instructions, within
the timing noise), LTO, -fcf-protection=none, -no-pie (no gain); Verilator's -fno-* toggles,
--output-split-cfuncs, OPT_FAST=-O1 (slower).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from hw.rtl.filelist import copy_memory_files

from hw.tools.verilator import HARNESS_ARGS, HARNESS_MAKE_VARS, setup_verilator_env, sources_digest

from .runner import DEFAULT_BUILD_ROOT, build_lock

_MAIN = r"""
#include "V{top}.h"
#include "V{top}___024root.h"
#include "verilated.h"
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vector>

static const int IN_WORDS = {in_words}, OUT_WORDS = {out_words}, N_EDGES = {n_edges};
// no layer we generate computes for this long without a beat on either port (the slowest, a
// 1960 x 128 dense layer at RF 1960 x 128, takes 250,880 cycles)
static const long IDLE_LIMIT = 1L << 24;

static uint32_t lcg(uint64_t& s) {{ s = s * 6364136223846793005ULL + 1442695040888963407ULL; return s >> 33; }}

static double cpu_now() {{
    timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec + 1e-9 * t.tv_nsec;
}}

struct Run {{ long n_in = 0, n_out = 0, cycles = 0, last_count = 0; }};

// One streaming run. PROBE: also record (edge, cycle) of every handshake between stages (w0 =
// input, w<n> = output), to time each layer; the plain variant has no per-cycle probe code.
template <bool PROBE>
static int stream(V{top}& top, const std::vector<uint32_t>& in, long total_out, uint32_t p_valid, uint32_t p_ready,
                  uint64_t seed, long hop_cycles, long frame_beats, std::vector<uint32_t>& out,
                  std::vector<uint8_t>& tlast, std::vector<int64_t>& probes, Run& r) {{
    const CData* pv[N_EDGES] = {{ {probe_valid} }};
    const CData* pr[N_EDGES] = {{ {probe_ready} }};
    (void)pv; (void)pr;
    const long total_in = in.size() / IN_WORDS;
    bool driving = false;
    long next_offer = 0;  // hop_cycles > 0: frame f is offered from cycle f * hop_cycles on (a real-time source)
    long idle = 0;  // cycles since the last beat in or out: a design that drops or waits for beats
                    // it will never get stalls for ever, the run must end with the numbers instead
    while (r.n_out < total_out) {{
        if (!driving) {{
            if (r.n_in < total_in && r.cycles >= next_offer && lcg(seed) % 100 < p_valid) {{
                const uint32_t* w = &in[r.n_in * IN_WORDS];
{set_in}
                top.s_axis_tvalid = 1; driving = true;
            }} else top.s_axis_tvalid = 0;
        }}
        top.m_axis_tready = (lcg(seed) % 100 < p_ready) ? 1 : 0;
        top.clk = 0; top.eval();
        const bool in_hs = top.s_axis_tvalid && top.s_axis_tready;
        if (PROBE)
            for (int e = 0; e < N_EDGES; e++)
                if (*pv[e] && *pr[e]) {{ probes.push_back(e); probes.push_back(r.cycles); }}
        const bool out_hs = top.m_axis_tvalid && top.m_axis_tready;
        if (out_hs) {{
            uint32_t* w = &out[r.n_out * OUT_WORDS];
{get_out}
            tlast[r.n_out] = top.m_axis_tlast;
            r.last_count += top.m_axis_tlast;
        }}
        top.clk = 1; top.eval(); r.cycles++;
        if (in_hs) {{
            r.n_in++; driving = false;
            if (hop_cycles && r.n_in % frame_beats == 0) next_offer = (r.n_in / frame_beats) * hop_cycles;
        }}
        if (out_hs) r.n_out++;
        if (in_hs || out_hs || r.cycles < next_offer) idle = 0;
        else if (++idle > IDLE_LIMIT) {{
            std::fprintf(stderr, "stalled: no beat in or out for %ld cycles (cycle %ld, %ld of %ld input beats taken, "
                         "%ld of %ld output beats)\n", IDLE_LIMIT, r.cycles, r.n_in, total_in, r.n_out, total_out);
            return 3;
        }}
    }}
    return 0;
}}

int main(int argc, char** argv) {{
    if (argc < 7) {{
        std::fprintf(stderr, "usage: in_file out_file out_beats p_valid%% p_ready%% seed [probe_file|-] [hop_cycles frame_beats]\n");
        return 2;
    }}
    const long total_out = std::atol(argv[3]);
    const uint32_t p_valid = std::atoi(argv[4]), p_ready = std::atoi(argv[5]);
    const uint64_t seed = std::atoll(argv[6]) * 2654435761ULL + 1;
    // every input beat, decoded once: IN_WORDS little-endian 32-bit words per beat
    FILE* fin = std::fopen(argv[1], "rb");
    if (!fin) {{ std::fprintf(stderr, "cannot read %s\n", argv[1]); return 2; }}
    std::fseek(fin, 0, SEEK_END);
    const long in_bytes = std::ftell(fin);
    std::fseek(fin, 0, SEEK_SET);
    std::vector<uint32_t> in(in_bytes / 4);
    if (std::fread(in.data(), 4, in.size(), fin) != in.size() || in.size() % IN_WORDS) {{
        std::fprintf(stderr, "bad input file\n"); return 2;
    }}
    std::fclose(fin);
    std::vector<uint32_t> out((size_t)total_out * OUT_WORDS);
    std::vector<uint8_t> tlast(total_out);
    std::vector<int64_t> probes;
    const bool probe = argc > 7 && std::strcmp(argv[7], "-") != 0;
    const long hop_cycles = argc > 8 ? std::atol(argv[8]) : 0, frame_beats = argc > 9 ? std::atol(argv[9]) : 1;
    VerilatedContext ctx;
    V{top} top(&ctx);
    top.clk = 0; top.rst_n = 0; top.s_axis_tvalid = 0; top.m_axis_tready = 0;
    for (int i = 0; i < 4; i++) {{ top.clk = 0; top.eval(); top.clk = 1; top.eval(); }}
    top.rst_n = 1;
    Run r;
    const double c0 = cpu_now();
    auto t0 = std::chrono::steady_clock::now();
    const int rc = probe ? stream<true>(top, in, total_out, p_valid, p_ready, seed, hop_cycles, frame_beats, out, tlast, probes, r)
                         : stream<false>(top, in, total_out, p_valid, p_ready, seed, hop_cycles, frame_beats, out, tlast, probes, r);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu = cpu_now() - c0;
    if (rc) return rc;
    // output beats: OUT_WORDS words each, then one tlast byte per beat
    FILE* fout = std::fopen(argv[2], "wb");
    std::fwrite(out.data(), 4, out.size(), fout);
    std::fwrite(tlast.data(), 1, tlast.size(), fout);
    std::fclose(fout);
    if (probe) {{
        FILE* fprobe = std::fopen(argv[7], "wb");
        std::fwrite(probes.data(), sizeof(int64_t), probes.size(), fprobe);
        std::fclose(fprobe);
    }}
    std::printf("{{\"cycles\": %ld, \"wall_s\": %.6f, \"cpu_s\": %.6f, \"in_beats\": %ld, \"out_beats\": %ld, \"tlast\": %ld}}\n",
                r.cycles, wall, cpu, r.n_in, r.n_out, r.last_count);
    top.final();
    return 0;
}}
"""


def _assign_in(width: int) -> str:
    if width <= 32:
        return "                top.s_axis_tdata = w[0];"
    if width <= 64:
        return "                top.s_axis_tdata = (uint64_t)w[0] | ((uint64_t)w[1] << 32);"
    return "                for (int i = 0; i < IN_WORDS; i++) top.s_axis_tdata[i] = w[i];"


def _read_out(width: int) -> str:
    if width <= 32:
        return "            w[0] = top.m_axis_tdata;"
    if width <= 64:
        return "            w[0] = (uint32_t)top.m_axis_tdata; w[1] = (uint32_t)(top.m_axis_tdata >> 32);"
    return "            for (int i = 0; i < OUT_WORDS; i++) w[i] = top.m_axis_tdata[i];"


def _run(cmd: list[str], what: str, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def _runtime_objects(mdir: Path, prefix: str) -> list[str]:
    """Names (without .o) of Verilator's run-time library files this model links (VM_GLOBAL_*)."""
    text = (mdir / f"{prefix}_classes.mk").read_text()
    names = []
    for block in re.findall(r"^VM_GLOBAL_(?:FAST|SLOW) \+= \\\n((?:  \S+ \\\n)*)", text, flags=re.M):
        names += block.split()[::2]  # "name \" pairs
    return names


def _runtime_key(mdir: Path, prefix: str, names: list[str]) -> str:
    """Everything the run-time objects depend on: their exact compile commands (compiler, flags,
    defines), the compiler's version and the text of Verilator's include directory."""
    env_root = Path(os.environ["VERILATOR_ROOT"]) / "include"
    dry = _run(["make", "-n", "-B", "-C", str(mdir), "-f", f"{prefix}.mk", *HARNESS_MAKE_VARS, *(f"{n}.o" for n in names)],
               "make -n (run-time library)").stdout
    cmds = sorted(line for line in dry.splitlines() if " -c " in line)
    cxx = cmds[0].split()[0] if cmds else "c++"
    h = hashlib.sha256("\n".join(cmds).encode())
    h.update(subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout.encode())
    for f in sorted(p for p in env_root.iterdir() if p.is_file()):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def build_harness(design, build_root: Path = DEFAULT_BUILD_ROOT) -> Path:
    """Compile (once per design content) and return the harness executable."""
    exe_env = setup_verilator_env()
    in_w, out_w = design.in_edge.tdata_width, design.out_edge.tdata_width
    n_edges = 1 + sum(1 for l in design.layers if l.module)  # stitcher's w0 .. w<n>
    sig = lambda i, kind: f"&top.rootp->{design.top}__DOT__w{i}_t{kind}"  # noqa: E731 (public_flat_rd wires)
    main = _MAIN.format(top=design.top, in_words=(in_w + 31) // 32, out_words=(out_w + 31) // 32,
                        set_in=_assign_in(in_w), get_out=_read_out(out_w), n_edges=n_edges,
                        probe_valid=", ".join(sig(i, "valid") for i in range(n_edges)),
                        probe_ready=", ".join(sig(i, "ready") for i in range(n_edges)))
    digest = sources_digest(design.files, main + repr((HARNESS_ARGS, HARNESS_MAKE_VARS)))
    mdir = Path(build_root) / f"harness_{design.top}_{digest}"
    with build_lock(mdir):
        return _build_into(mdir, design, exe_env, main)


def _build_into(mdir: Path, design, exe_env, main: str) -> Path:
    """The harness in `mdir` (built unless it is there); the caller holds the folder's build lock."""
    exe = mdir / "harness"
    if exe.exists():
        return exe
    mdir.mkdir(parents=True, exist_ok=True)
    (mdir / "main.cpp").write_text(main)
    prefix = f"V{design.top}"
    # 1. Verilator writes the C++ model and its makefile (no --build: the run-time objects go in first)
    _run([str(exe_env), "--cc", "--exe", *HARNESS_ARGS, "--top-module", design.top, "-Mdir", str(mdir),
          "-o", "harness", *map(str, design.files), str(mdir / "main.cpp")], "harness build (verilator)")
    # 2. the run-time library: copied from an earlier build with the same compile commands. The
    # copies are newer than the makefile just written (the objects' only make prerequisite besides
    # their .cpp), so make keeps them.
    names = _runtime_objects(mdir, prefix)
    cache = mdir.parent / f"verilated_rt_{_runtime_key(mdir, prefix, names)}"
    cached = bool(names) and all((cache / f"{n}.o").exists() for n in names)
    if cached:
        for n in names:
            shutil.copy(cache / f"{n}.o", mdir / f"{n}.o")
    # 3. g++ of the model, main.cpp and (first time only) the run-time library, then the link
    _run(["make", "-C", str(mdir), "-f", f"{prefix}.mk", "-j", "2", *HARNESS_MAKE_VARS], "harness build (make)")
    if not exe.exists():
        raise RuntimeError(f"harness build produced no executable in {mdir}")
    if names and not cached:  # publish atomically: concurrent builds may race, either copy is right
        tmp = Path(tempfile.mkdtemp(prefix="rt_", dir=mdir.parent))
        for n in names:
            shutil.copy(mdir / f"{n}.o", tmp / f"{n}.o")
        try:
            tmp.rename(cache)
        except OSError:  # another build published first
            shutil.rmtree(tmp, ignore_errors=True)
    return exe


def run_harness(design, frames_in: list[list[int]], out_beats_per_frame: int, *, p_valid=100, p_ready=100,
                seed=1, probe=False, build_root: Path = DEFAULT_BUILD_ROOT,
                out_frames: int | None = None, hop_cycles: int = 0) -> tuple[list[list[int]], dict]:
    """Stream frames through the compiled model; returns (output beats per frame, stats).
    probe=True: stats['handshakes'][e] = the cycles of every beat on stage edge e (0 = input).
    `out_frames`: output frames to wait for (default one per input frame; a streaming design
    gives one per decision). `hop_cycles`: offer input frame f no earlier than cycle f * hop_cycles
    (a source producing a frame per hop), 0 = as fast as the design takes them."""
    t0 = time.perf_counter()
    exe = build_harness(design, build_root)
    build_s = time.perf_counter() - t0
    in_bytes = (design.in_edge.tdata_width + 31) // 32 * 4
    out_bytes = (design.out_edge.tdata_width + 31) // 32 * 4
    # A fresh directory per run: the ROM images ($readmemh, loaded at time 0) belong to this design,
    # while the compiled model may be shared with another design of the same shape.
    work = Path(tempfile.mkdtemp(prefix="run_", dir=exe.parent))
    try:
        copy_memory_files(design.files, work)
        (work / "in.bin").write_bytes(b"".join(b.to_bytes(in_bytes, "little") for f in frames_in for b in f))
        n_frames = len(frames_in) if out_frames is None else out_frames
        total_out = out_beats_per_frame * n_frames
        proc = subprocess.run([str(exe), str(work / "in.bin"), str(work / "out.bin"), str(total_out), str(p_valid),
                               str(p_ready), str(seed), str(work / "probe.bin") if probe else "-", str(hop_cycles),
                               str(getattr(design, "in_frame_beats", 1))],
                              capture_output=True, text=True, cwd=work)
        if proc.returncode != 0:
            raise RuntimeError(f"harness failed: {proc.stderr}")
        stats = json.loads(proc.stdout.strip().splitlines()[-1])
        raw = (work / "out.bin").read_bytes()
        n_out = stats["out_beats"]
        beats = [int.from_bytes(raw[i * out_bytes:(i + 1) * out_bytes], "little") for i in range(n_out)]
        tlast = list(raw[total_out * out_bytes:total_out * out_bytes + n_out])
        if probe:
            import numpy as np

            n_edges = 1 + sum(1 for l in design.layers if l.module)
            rec = np.frombuffer((work / "probe.bin").read_bytes(), dtype="<i8").reshape(-1, 2)
            stats["handshakes"] = [rec[rec[:, 0] == e, 1].tolist() for e in range(n_edges)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    frames = [beats[i:i + out_beats_per_frame] for i in range(0, len(beats), out_beats_per_frame)]
    stats["tlast_ok"] = tlast == ([0] * (out_beats_per_frame - 1) + [1]) * n_frames
    stats["build_s"] = build_s
    stats["cycles_per_s"] = stats["cycles"] / max(stats["wall_s"], 1e-9)
    stats["inferences_per_s"] = len(frames_in) / max(stats["wall_s"], 1e-9)
    stats["inferences_per_cpu_s"] = len(frames_in) / max(stats["cpu_s"], 1e-9)
    return frames, stats
