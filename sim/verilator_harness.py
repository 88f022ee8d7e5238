"""Compiled Verilator testbench without per-cycle Python, for large exactness sweeps.

The C++ main streams input beats read from a file into the generated top level with pseudo-random
valid gaps and ready backpressure (same handshake rules as sim/tb_stream.py), writes every output
beat to a file and prints cycle counts and wall time as JSON. Python packs the beats and compares
them with the reference: the comparison itself stays exact and in one place.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from hw.rtl.filelist import copy_memory_files

from hw.tools.verilator import setup_verilator_env, sources_digest

from .runner import DEFAULT_BUILD_ROOT

_MAIN = r"""
#include "V{top}.h"
#include "V{top}___024root.h"
#include "verilated.h"
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

static const int IN_WORDS = {in_words}, OUT_WORDS = {out_words}, N_EDGES = {n_edges};

static void parse_hex(const char* s, uint32_t* w, int nwords) {{
    std::memset(w, 0, sizeof(uint32_t) * nwords);
    int len = std::strlen(s);
    while (len && (s[len - 1] == '\n' || s[len - 1] == '\r')) len--;
    for (int i = 0; i < len && i / 8 < nwords; i++) {{
        char c = s[len - 1 - i];
        uint32_t v = (c <= '9') ? c - '0' : (c | 0x20) - 'a' + 10;
        w[i / 8] |= v << (4 * (i % 8));
    }}
}}

static uint32_t lcg(uint64_t& s) {{ s = s * 6364136223846793005ULL + 1442695040888963407ULL; return s >> 33; }}

int main(int argc, char** argv) {{
    if (argc < 7) {{ std::fprintf(stderr, "usage: in_file out_file out_beats p_valid%% p_ready%% seed [probe_file]\n"); return 2; }}
    FILE* fin = std::fopen(argv[1], "r");
    FILE* fout = std::fopen(argv[2], "w");
    long total_out = std::atol(argv[3]);
    uint32_t p_valid = std::atoi(argv[4]), p_ready = std::atoi(argv[5]);
    uint64_t seed = std::atoll(argv[6]) * 2654435761ULL + 1;
    std::vector<uint32_t> in;
    char line[1 << 16];
    while (std::fgets(line, sizeof line, fin)) {{
        in.resize(in.size() + IN_WORDS);
        parse_hex(line, &in[in.size() - IN_WORDS], IN_WORDS);
    }}
    long total_in = in.size() / IN_WORDS;
    VerilatedContext ctx;
    V{top} top(&ctx);
    // optional: the cycle of every handshake between stages (w0 = input, w<n> = output), to time each layer
    FILE* fprobe = argc > 7 ? std::fopen(argv[7], "w") : nullptr;
    const CData* pv[N_EDGES] = {{ {probe_valid} }};
    const CData* pr[N_EDGES] = {{ {probe_ready} }};
    top.clk = 0; top.rst_n = 0; top.s_axis_tvalid = 0; top.m_axis_tready = 0;
    for (int i = 0; i < 4; i++) {{ top.clk = 0; top.eval(); top.clk = 1; top.eval(); }}
    top.rst_n = 1;
    long n_in = 0, n_out = 0, cycles = 0, last_count = 0;
    bool driving = false;
    auto t0 = std::chrono::steady_clock::now();
    while (n_out < total_out) {{
        if (!driving) {{
            if (n_in < total_in && lcg(seed) % 100 < p_valid) {{
                const uint32_t* w = &in[n_in * IN_WORDS];
{set_in}
                top.s_axis_tvalid = 1; driving = true;
            }} else top.s_axis_tvalid = 0;
        }}
        top.m_axis_tready = (lcg(seed) % 100 < p_ready) ? 1 : 0;
        top.clk = 0; top.eval();
        bool in_hs = top.s_axis_tvalid && top.s_axis_tready;
        if (fprobe)
            for (int e = 0; e < N_EDGES; e++)
                if (*pv[e] && *pr[e]) std::fprintf(fprobe, "%d %ld\n", e, cycles);
        bool out_hs = top.m_axis_tvalid && top.m_axis_tready;
        if (out_hs) {{
            uint32_t w[OUT_WORDS];
{get_out}
            for (int i = OUT_WORDS - 1; i >= 0; i--) std::fprintf(fout, "%08x", w[i]);
            std::fprintf(fout, " %d\n", (int)top.m_axis_tlast);
            last_count += top.m_axis_tlast;
        }}
        top.clk = 1; top.eval(); cycles++;
        if (in_hs) {{ n_in++; driving = false; }}
        if (out_hs) n_out++;
        if (cycles > 2000000000L) {{ std::fprintf(stderr, "timeout\n"); return 3; }}
    }}
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fclose(fout);
    if (fprobe) std::fclose(fprobe);
    std::printf("{{\"cycles\": %ld, \"wall_s\": %.6f, \"in_beats\": %ld, \"out_beats\": %ld, \"tlast\": %ld}}\n",
                cycles, wall, n_in, n_out, last_count);
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
    digest = sources_digest(design.files, main)
    mdir = Path(build_root) / f"harness_{design.top}_{digest}"
    exe = mdir / "harness"
    if exe.exists():
        return exe
    mdir.mkdir(parents=True, exist_ok=True)
    (mdir / "main.cpp").write_text(main)
    cmd = [str(exe_env), "--cc", "--exe", "--build", "-O3", "-Wno-fatal", "--x-assign", "fast", "--x-initial", "fast",
           "--top-module", design.top, "-Mdir", str(mdir), "-o", "harness", "-j", "2",
           *map(str, design.files), str(mdir / "main.cpp")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not exe.exists():
        raise RuntimeError(f"harness build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return exe


def run_harness(design, frames_in: list[list[int]], out_beats_per_frame: int, *, p_valid=100, p_ready=100,
                seed=1, probe=False, build_root: Path = DEFAULT_BUILD_ROOT) -> tuple[list[list[int]], dict]:
    """Stream frames through the compiled model; returns (output beats per frame, stats).
    probe=True: stats['handshakes'][e] = the cycles of every beat on stage edge e (0 = input)."""
    t0 = time.perf_counter()
    exe = build_harness(design, build_root)
    build_s = time.perf_counter() - t0
    # A fresh directory per run: the ROM images ($readmemh, loaded at time 0) belong to this design,
    # while the compiled model may be shared with another design of the same shape.
    work = Path(tempfile.mkdtemp(prefix="run_", dir=exe.parent))
    copy_memory_files(design.files, work)
    (work / "in.hex").write_text("".join(f"{b:x}\n" for f in frames_in for b in f))
    total_out = out_beats_per_frame * len(frames_in)
    proc = subprocess.run([str(exe), str(work / "in.hex"), str(work / "out.hex"), str(total_out), str(p_valid),
                           str(p_ready), str(seed)] + ([str(work / "probe.txt")] if probe else []),
                          capture_output=True, text=True, cwd=work)
    if proc.returncode != 0:
        raise RuntimeError(f"harness failed: {proc.stderr}")
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    beats, tlast = [], []
    for line in (work / "out.hex").read_text().splitlines():
        value, last = line.split()
        beats.append(int(value, 16))
        tlast.append(int(last))
    if probe:
        n_edges = 1 + sum(1 for l in design.layers if l.module)
        stats["handshakes"] = [[] for _ in range(n_edges)]
        for line in (work / "probe.txt").read_text().splitlines():
            e, cycle = line.split()
            stats["handshakes"][int(e)].append(int(cycle))
    shutil.rmtree(work, ignore_errors=True)
    frames = [beats[i:i + out_beats_per_frame] for i in range(0, len(beats), out_beats_per_frame)]
    stats["tlast_ok"] = tlast == ([0] * (out_beats_per_frame - 1) + [1]) * len(frames_in)
    stats["build_s"] = build_s
    stats["cycles_per_s"] = stats["cycles"] / max(stats["wall_s"], 1e-9)
    stats["inferences_per_s"] = len(frames_in) / max(stats["wall_s"], 1e-9)
    return frames, stats
