"""What an RTL test checks of a generated design (shared by the test files): Verilator lint is clean,
a reuse factor above 1 reached some layer, and under each valid/ready pattern every output bit of
every vector equals the golden model's, with tlast on the frame's last beat."""

from __future__ import annotations


def assert_rtl_exact(design, graph, x_raw, handshakes, rf: int = 1) -> None:
    from hw.tools.verilator import verilator_lint
    from sim.check import compare

    if rf > 1:
        assert any(l.notes.get("reuse_factor", 1) > 1 for l in design.layers)
    assert verilator_lint(design.files, design.top) == ""
    n = len(x_raw)
    for p_valid, p_ready in handshakes:
        res = compare(design, graph, x_raw, p_valid=p_valid, p_ready=p_ready, seed=p_ready)
        assert res["n"] == n and res["exact"] == n, (p_valid, p_ready, res["first_bad"])
        assert res["tlast_ok"]
