"""The real-time planner (hw/planner.py, `kwsflow plan`): exact against brute force on a toy model,
clear verdicts for what cannot be met, and its predicted II against the simulated one."""

import itertools
import math
import re

import numpy as np
import pytest

from hw.planner import Plan, PlanInfeasible, design_space, fastest, fastest_within, least_area
from sim.testmodels import planner_toy, small_mlp, to_hls


@pytest.fixture(scope="module")
def toy_space(tmp_path_factory):
    graph = to_hls(planner_toy(), tmp_path_factory.mktemp("toy") / "prj")
    return design_space(graph)


def every_plan(space):
    return [Plan(space, picks) for picks in itertools.product(*(l.options for l in space.layers))]


def test_toy_space_has_choices_in_every_layer(toy_space):
    # conv (window), pw (1x1 conv), fc (dense): a search over one option per layer would prove nothing
    assert [l.layer for l in toy_space.layers] == ["conv", "pw", "fc"]
    assert all(len(l.options) >= 8 for l in toy_space.layers)
    assert math.prod(len(l.options) for l in toy_space.layers) == len(every_plan(toy_space))


def test_least_area_equals_brute_force_at_every_budget(toy_space):
    plans = every_plan(toy_space)
    budgets = sorted({p.ii_cycles for p in plans} | {p.ii_cycles - 1 for p in plans})
    for budget in budgets:
        meeting = [p for p in plans if p.ii_cycles <= budget]
        if not meeting:
            with pytest.raises(PlanInfeasible):
                least_area(toy_space, budget)
            continue
        best = min(p.multipliers for p in meeting)
        chosen = least_area(toy_space, budget)
        assert chosen.ii_cycles <= budget and chosen.multipliers == best, budget
        assert chosen.picks in {p.picks for p in meeting if p.multipliers == best}


def test_capacity_verdicts_equal_brute_force(toy_space):
    plans = every_plan(toy_space)
    for capacity in range(1, 140, 3):
        fitting = [p for p in plans if p.multipliers <= capacity]
        best = fastest_within(toy_space, capacity)
        if not fitting:
            assert best is None
            with pytest.raises(PlanInfeasible, match="even the smallest plan"):
                least_area(toy_space, 10**9, capacity)
            continue
        assert best.ii_cycles == min(p.ii_cycles for p in fitting) and best.multipliers <= capacity, capacity
        # a budget just below what fits is refused, naming the multipliers needed and what fits
        if best.ii_cycles > fastest(toy_space).ii_cycles:
            with pytest.raises(PlanInfeasible, match=f"the part has {capacity}") as err:
                least_area(toy_space, best.ii_cycles - 1, capacity)
            assert err.value.best.ii_cycles == best.ii_cycles


def test_rate_beyond_the_fastest_plan_is_a_verdict(toy_space):
    quickest = fastest(toy_space)
    assert quickest.ii_cycles == min(p.ii_cycles for p in every_plan(toy_space))
    with pytest.raises(PlanInfeasible, match=f"fastest plan takes {quickest.ii_cycles} cycles per inference") as err:
        least_area(toy_space, quickest.ii_cycles - 1)
    assert err.value.best == quickest


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """A run folder as `kwsflow plan` reads it (model.h5, no config: the defaults)."""
    run = tmp_path_factory.mktemp("runs") / "toy"
    run.mkdir()
    small_mlp(16, (8,), 4, seed=3).save(run / "model.h5", include_optimizer=False)
    return run


def _plan(argv, capsys):
    from sim.cli import main

    code = main(["plan", *argv])
    return code, capsys.readouterr()


def test_cli_plan_writes_report(toy_run, capsys):
    code, out = _plan(["--run", str(toy_run), "--part", "ecp5-25k-cabga381", "--clock-mhz", "25", "--rate", "1e6"], capsys)
    assert code == 0, out.err
    import json

    rep = json.loads((toy_run / "plan" / "plan_ecp5-25k-cabga381_25mhz_1e+06ips.json").read_text())
    assert rep["feasible"] and rep["budget_cycles"] == 25 and rep["ii_cycles"] <= 25 and rep["multipliers"] <= 28
    assert "fc1=" in rep["reuse_factor"] and "fc_out=" in rep["reuse_factor"]


def test_cli_plan_takes_the_sequential_engine_when_it_meets_the_rate(toy_run, capsys):
    """At a slow rate one multiplier for every layer (RF=seq) is the least area; the report names the
    engine's predicted cycles, which the faster setting above reports as the option not taken."""
    import json

    from hw.rtl.generate import sequential_engine
    from hw.rtl.run import graph_for_run

    engine, _ = sequential_engine(graph_for_run(toy_run)[0])
    c = engine.compute_cycles  # a budget of exactly its cycles at 12 MHz, then one cycle less
    for r, want in ((12e6 / (c + 0.5), "seq"), (12e6 / (c - 0.5), None)):
        code, out = _plan(["--run", str(toy_run), "--part", "ice40-up5k-sg48", "--clock-mhz", "12", "--rate", repr(r)],
                          capsys)
        assert code == 0, out.err
        rep = json.loads((toy_run / "plan" / f"plan_ice40-up5k-sg48_12mhz_{r:g}ips.json").read_text())
        assert rep["budget_cycles"] == (c if want else c - 1)
        assert rep["sequential"]["ii_cycles"] == engine.compute_cycles
        if want == "seq":
            assert rep["reuse_factor"] == "seq" and rep["multipliers"] == 1 and rep["ii_cycles"] <= rep["budget_cycles"]
            assert [l["layer"] for l in rep["layers"]] == ["fc1", "fc_out"]
        else:
            assert "fc1=" in rep["reuse_factor"] and rep["multipliers"] >= 2
            assert "sequential engine" in (toy_run / "plan" / f"plan_ice40-up5k-sg48_12mhz_{r:g}ips.md").read_text()


def test_cli_infeasible_rate_is_one_error_line(toy_run, capsys):
    code, out = _plan(["--run", str(toy_run), "--part", "ice40-up5k-sg48", "--clock-mhz", "1", "--rate", "1e7"], capsys)
    assert code == 2 and out.err.count("error:") == 1
    assert re.search(r"budget of 0\b", out.err) and "inferences/s at 1 MHz, asked 1e+07 inferences/s" in out.err
    assert (toy_run / "plan" / "plan_ice40-up5k-sg48_1mhz_1e+07ips.md").is_file()  # the verdict is kept


def test_cli_design_larger_than_the_part(toy_run, capsys):
    # 16-8-4 MLP: at least one multiplier per layer fits the UP5K's 8 DSPs, but not 1 cycle per inference
    code, out = _plan(["--run", str(toy_run), "--part", "ice40-up5k-sg48", "--clock-mhz", "12", "--rate", "6e6"], capsys)
    assert code == 2 and "multipliers; the part has 8" in out.err


def test_cli_unknown_part_before_any_work(tmp_path, capsys):
    code, out = _plan(["--run", str(tmp_path / "no_such_run"), "--part", "ice40-foo", "--clock-mhz", "12",
                       "--rate", "50"], capsys)
    assert code == 2 and "unknown part 'ice40-foo'" in out.err and "ecp5-25k-cabga381" in out.err
    assert "no_such_run" not in out.err  # refused before the run was looked at


@pytest.mark.sim
def test_predicted_ii_equals_simulated_ii(tmp_path):
    """The planner's II for the 16-8-4 MLP at a mid budget against the Verilator harness (4 frames
    back to back): a dense chain is where the generator's schedule is exact."""
    from hw.rtl import generate_rtl
    from hw.rtl.layer_spec import read_graph
    from sim.check import compare, timing

    graph = to_hls(small_mlp(16, (8,), 4, seed=3), tmp_path / "prj")
    space = design_space(graph)
    plan = least_area(space, 40)
    assert plan.ii_cycles > fastest(space).ii_cycles  # a point inside the space, not its corner
    design = generate_rtl(graph, tmp_path / "rtl", reuse_factor=plan.reuse)
    assert design.report["multipliers"] == plan.multipliers
    t = read_graph(graph)[0].out_type
    x = np.random.default_rng(0).integers(t.min_raw, t.max_raw + 1, size=(6, 16))
    assert compare(design, graph, x)["exact"] == 6
    assert timing(design, x)["ii_cycles"] == plan.ii_cycles


@pytest.fixture(scope="module")
def toy_stream_run(tmp_path_factory):
    """A run with an unpadded model (the FFN over 49 frames of 4 values): it has a streaming IP."""
    from sim.testmodels import streaming_model

    run = tmp_path_factory.mktemp("runs") / "toy_stream"
    run.mkdir()
    streaming_model("ffn", seed=4).save(run / "model.h5", include_optimizer=False)
    return run


def test_cli_hop_plans_the_streaming_ip(toy_stream_run, capsys):
    import json

    code, out = _plan(["--run", str(toy_stream_run), "--part", "ecp5-25k-cabga381", "--clock-mhz", "0.003",
                       "--hop-ms", "20"], capsys)  # 60 cycles per hop
    assert code == 0, out.err
    rep = json.loads((toy_stream_run / "plan" / "plan_ecp5-25k-cabga381_0.003mhz_hop20ms.json").read_text())
    assert rep["ip"] == "streaming" and rep["budget_cycles"] == 60 and rep["decision_frames"] == 2
    # the dense layer that collapses time reads 49 rows once per decision (2 frames): >= 24.5 cycles per hop
    assert 24.5 <= rep["ii_cycles"] <= 60 and rep["multipliers"] <= 28
    code, out = _plan(["--run", str(toy_stream_run), "--part", "ecp5-25k-cabga381", "--clock-mhz", "0.003",
                       "--hop-ms", "5"], capsys)  # 15 cycles per hop: below what the time window needs
    assert code == 2 and "cycles per hop" in out.err and "a hop of" in out.err and "asked a 5 ms hop" in out.err


def test_tighten_replans_below_the_models_shortfall(toy_space):
    """A simulator that takes 10 cycles more than the model everywhere: one re-plan, within the
    budget less 10, meets it; a shortfall no plan can absorb is a verdict."""
    from hw.planner import tighten

    def slower(reuse):
        return _by_reuse(toy_space, reuse).ii_cycles + 10

    budget = 50
    first = least_area(toy_space, budget)
    assert first.ii_cycles + 10 > budget  # the model's pick misses in "simulation"
    plan, rounds = tighten(toy_space, first, budget, slower)
    assert [r["planned_within"] for r in rounds] == [budget, budget - 10]
    assert plan == least_area(toy_space, budget - 10) and rounds[-1]["measured"] <= budget
    with pytest.raises(PlanInfeasible, match="in simulation"):
        tighten(toy_space, fastest(toy_space), fastest(toy_space).ii_cycles, slower)


def _by_reuse(space, reuse):
    """The Plan of `space` whose RFs are `reuse` (a ReusePlan with every layer named)."""
    rfs = dict(reuse.layers)
    return Plan(space, tuple(next(o for o in l.options if o.rf == rfs[l.layer]) for l in space.layers))
