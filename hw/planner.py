"""Real-time planner: per-layer reuse factors for the fewest multipliers that still meet a rate.

The cost model is the generator's own: for every layer with weights (hw.rtl.generate.mac_shape)
and every reuse factor it can realise (dense_emitter.valid_reuse_factors), the layer is emitted
in memory and its multipliers and stage cycles per frame (hw.rtl.report.stage_cycles) are read
off; every other stage keeps its cycles whatever the RFs. Then

    II(plan)    = max(fixed stages, input/output beats, max over layers of cycles_l(rf_l))
    area(plan)  = fixed multipliers + sum over layers of multipliers_l(rf_l)

and a plan meets a budget B of cycles per inference when II(plan) <= B. That holds exactly when
every layer's cycles are <= B (and the fixed stages are), so the feasible plans are the product
of per-layer sets {rf : cycles_l(rf) <= B}; the area is a sum of per-layer terms, so its minimum
over that product is the sum of per-layer minima. Each layer independently taking its cheapest
RF within B is therefore the exact optimum of this model (not a heuristic), and if that minimum
exceeds the part's multiplier blocks no plan fits. tests/test_planner.py checks this against
brute force over every combination.

What the model does not know: the stream widths are the generator's (one pixel or the whole
vector per beat), not a choice here; LUTs, flip-flops and block RAM are not counted (the part's
DSP blocks are the only capacity checked; a part without DSP blocks builds multipliers from LUTs,
which `make pnr` has to judge); and the stage cycles are the generator's schedule, which a
windowed layer can exceed in simulation (`--check N` measures).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from hw.cli import InputError
from hw.rtl.emitters.dense_emitter import valid_reuse_factors
from hw.rtl.generate import emit_layer, generate_rtl, mac_shape
from hw.rtl.layer_spec import read_graph
from hw.rtl.report import cycles_per_frame, expected_ii
from hw.rtl.reuse import ReusePlan

REFERENCE_RF = 64  # the design the fixed stages are read from; any RF gives them the same cycles


@dataclass(frozen=True)
class Option:
    """One layer at one reuse factor, as the generator emits it."""

    rf: int
    multipliers: int
    cycles: float  # stage cycles per frame (streaming IP: per hop, a fraction when it steps every few frames)


@dataclass(frozen=True)
class LayerChoices:
    layer: str  # hls4ml name (a split separable conv: each half its own)
    keras_layer: str
    options: tuple[Option, ...]  # every RF the layer can realise without changing its output stream


@dataclass(frozen=True)
class DesignSpace:
    layers: tuple[LayerChoices, ...]
    fixed_cycles: float  # slowest stage without a reuse factor, or the input/output stream's beats
    fixed_multipliers: int


@dataclass(frozen=True)
class Plan:
    """Chosen option per layer (the order of DesignSpace.layers)."""

    space: DesignSpace
    picks: tuple[Option, ...]

    @property
    def ii_cycles(self) -> float:
        return max([self.space.fixed_cycles] + [o.cycles for o in self.picks])

    @property
    def multipliers(self) -> int:
        return self.space.fixed_multipliers + sum(o.multipliers for o in self.picks)

    @property
    def reuse(self) -> ReusePlan:
        """Exact per-layer RFs, in the form hw.rtl and python -m sim take (--reuse-factor)."""
        return ReusePlan(layers=tuple((l.layer, o.rf) for l, o in zip(self.space.layers, self.picks)))

    def rows(self) -> list[dict]:
        return [{"layer": l.layer, "keras_layer": l.keras_layer, "reuse_factor": o.rf, "multipliers": o.multipliers,
                 "cycles": o.cycles} for l, o in zip(self.space.layers, self.picks)]


class PlanInfeasible(InputError):
    """No reuse factors meet the budget within the part; the message has the numbers (a verdict on
    the user's setting: one `error:` line, exit 2). `best`: the fastest plan there is within the
    part (None: none fits at any rate)."""

    def __init__(self, message: str, best: Plan | None):
        super().__init__(message)
        self.best = best


def design_space(model_graph, top: str = "kws_top", stream_plan=None) -> DesignSpace:
    """Every layer's options, from one generated design (in a temporary folder) plus each layer with
    weights emitted again, in memory, at each RF it can realise. With a `stream_plan`
    (hw/stream/plan.py) it is the streaming IP's, and cycles are per hop (input frame): a layer's
    cycles per output time step over the frames between two of its steps."""
    specs = read_graph(model_graph) if not isinstance(model_graph, list) else model_graph
    seen = []  # (spec, input edge, top, emitted layer, its emitter) in generation order

    def recording(emit):
        def emit_and_record(spec, edge, top_name, rf):
            emitted = emit(spec, edge, top_name, rf)
            seen.append((spec, edge, top_name, emitted, emit))
            return emitted
        return emit_and_record

    per_step, out_beats = {}, lambda design: design.out_frame_beats
    with tempfile.TemporaryDirectory(prefix="kws_plan_") as tmp:
        if stream_plan is None:
            design = generate_rtl(specs, Path(tmp) / "rtl", top=top, reuse_factor=REFERENCE_RF,
                                  emit=recording(emit_layer))
        else:
            from hw.rtl.stream_generate import generate_stream_rtl

            design = generate_stream_rtl(model_graph, stream_plan, Path(tmp) / "rtl", reuse_factor=REFERENCE_RF,
                                         wrap_emit=recording)
            per_step = {s.name: s.time_out.stride for s in stream_plan.layers}
            out_beats = lambda d: d.out_frame_beats / stream_plan.decision_frames  # noqa: E731 - once per decision
    fixed, choices = [], []
    for spec, edge, top_name, base, emit in seen:
        shape = mac_shape(spec)
        if shape is None or not base.multipliers:
            fixed.append(base)
            continue
        options = []
        for rf in valid_reuse_factors(*shape):
            trial = emit(spec, edge, top_name, rf)
            if trial.out == base.out:  # an RF that changed the output stream would change the next layer
                options.append(Option(rf, trial.multipliers, cycles_per_frame(trial, per_step)))
        choices.append(LayerChoices(spec.name, spec.keras_layer, tuple(options)))
    return DesignSpace(tuple(choices), expected_ii(fixed, design.in_frame_beats, out_beats(design), per_step),
                       sum(l.multipliers for l in fixed))


def _cheapest(options, budget: int) -> Option | None:
    """Fewest multipliers within the budget; on a tie the faster, then the smaller RF."""
    fitting = [o for o in options if o.cycles <= budget]
    return min(fitting, key=lambda o: (o.multipliers, o.cycles, o.rf)) if fitting else None


def fastest(space: DesignSpace) -> Plan:
    """Every layer at its fewest cycles (fewest multipliers among those): the smallest II there is."""
    return Plan(space, tuple(min(l.options, key=lambda o: (o.cycles, o.multipliers, o.rf)) for l in space.layers))


def least_area(space: DesignSpace, budget_cycles: float, multiplier_capacity: int | None = None,
               unit: str = "cycles per inference") -> Plan:
    """The plan with the fewest multipliers whose II is at most `budget_cycles` (exact, see the
    module doc); PlanInfeasible when the budget cannot be met, or not within `multiplier_capacity`
    (None: not limited). `unit` names the cycles in messages."""
    best = fastest_within(space, multiplier_capacity)
    if best is None:
        smallest = least_area(space, _slowest_budget(space))
        raise PlanInfeasible(f"even the smallest plan ({cycles_text(smallest.ii_cycles)} {unit}) needs "
                             f"{smallest.multipliers:,} multipliers; the part has {multiplier_capacity:,}", None)
    quickest = fastest(space)
    if quickest.ii_cycles > budget_cycles:
        within = ("" if best.ii_cycles == quickest.ii_cycles else
                  f"; within {multiplier_capacity:,} multipliers it takes {cycles_text(best.ii_cycles)} {unit}")
        raise PlanInfeasible(f"the fastest plan takes {cycles_text(quickest.ii_cycles)} {unit} ({quickest.multipliers:,} "
                             f"multipliers), more than the budget of {cycles_text(budget_cycles)}{within}", best)
    plan = Plan(space, tuple(_cheapest(l.options, budget_cycles) for l in space.layers))
    if multiplier_capacity is not None and plan.multipliers > multiplier_capacity:
        raise PlanInfeasible(f"the smallest plan within {cycles_text(budget_cycles)} {unit} needs {plan.multipliers:,} "
                             f"multipliers; the part has {multiplier_capacity:,}, and with at most that many the "
                             f"fastest plan takes {cycles_text(best.ii_cycles)} {unit}", best)
    return plan


def cycles_text(cycles: float) -> str:
    """12,345 for whole cycles, 162.5 for a fraction (cycles per hop)."""
    return f"{cycles:,.0f}" if float(cycles).is_integer() else f"{cycles:,.1f}"


def fastest_within(space: DesignSpace, multiplier_capacity: int | None) -> Plan | None:
    """The smallest II any plan with at most `multiplier_capacity` multipliers reaches (its
    least-area plan), or None. The fewest multipliers within a budget only fall as the budget
    grows, and the II only takes the options' cycle counts, so the first of those budgets whose
    least-area plan fits is the answer."""
    quickest = fastest(space)
    if multiplier_capacity is None or quickest.multipliers <= multiplier_capacity:
        return quickest
    for budget in sorted({o.cycles for l in space.layers for o in l.options} | {space.fixed_cycles}):
        if budget < quickest.ii_cycles:
            continue
        plan = Plan(space, tuple(_cheapest(l.options, budget) for l in space.layers))
        if plan.multipliers <= multiplier_capacity:
            return plan
    return None


def _slowest_budget(space: DesignSpace) -> int:
    return max([space.fixed_cycles] + [o.cycles for l in space.layers for o in l.options])


def tighten(space: DesignSpace, plan: Plan, budget_cycles: float, measure, multiplier_capacity: int | None = None,
            unit: str = "cycles per inference", rounds: int = 3) -> tuple[Plan, list[dict]]:
    """(plan, rounds) after checking `plan` with `measure(reuse) -> measured II`: while the measured
    II misses the budget, plan again within the budget less the model's shortfall at that plan
    (measured - predicted), at most `rounds` measurements; the plan returned is the last one measured (it
    still misses when the rounds ran out). It is the model's optimum at the lowered budget, not
    necessarily the fewest multipliers that would meet the rate in simulation. PlanInfeasible when
    the lowered budget has no plan."""
    history, within = [], budget_cycles
    for done in range(1, rounds + 1):
        measured = measure(plan.reuse)
        history.append({"planned_within": within, "reuse_factor": str(plan.reuse), "multipliers": plan.multipliers,
                        "predicted": plan.ii_cycles, "measured": measured})
        if measured <= budget_cycles or done == rounds:
            break
        within = budget_cycles - (measured - plan.ii_cycles)  # what the model must predict, given its shortfall here
        try:
            plan = least_area(space, within, multiplier_capacity, unit)
        except PlanInfeasible as err:
            raise PlanInfeasible(f"in simulation {str(plan.reuse)!r} takes {cycles_text(measured)} {unit}, more than "
                                 f"{cycles_text(budget_cycles)}, and within {cycles_text(within)} (the budget less the "
                                 f"model's shortfall there) {err}", err.best) from None
    return plan, history
