"""Paper A, weights: squashed (tanh) kernels + absolute-cosine regularization (ACosR).

Phases (all after the BN-folded, calibrated start of the linear baseline):
1. "soft": kernels are used *unrounded* (tanh(theta) with squash, plain float without), the rest
   is quantized as in `linear`; ACosR's lambda is 0 for `warmup_epochs`, then ramps to `lam`
   over `ramp_epochs`, pulling the weights onto the grid of the kernel quantizer.
2. "rounded": the same weights rounded to the grid, no training: the post-rounding accuracy
   drop (soft - rounded) is what ACosR should shrink (compare lam=0 with lam>0).
3. "qat": fine-tune with rounding in the loop (STE), then export.

scheme_args: squash (bool, default true), lam (>= 0), warmup_epochs, ramp_epochs, soft_epochs.
Writes <run>/acos_grid_offsets.png (histogram of |w/step - round(w/step)| before/after phase 1)
and reports the bin entropy of the quantized weights.
"""

from __future__ import annotations

import numpy as np

from qat.acos_regularizer import AbsCosineRegularizer, grid_offsets
from qat.lambda_ramp import LambdaRamp
from qat.quantizers import squashed_bits
from qat.schemes.base import QatContext, QatResult
from qat.schemes import common as C

NAME = "acos"
DEFAULTS = {"squash": True, "lam": 1e-4, "warmup_epochs": 1, "ramp_epochs": 2, "soft_epochs": 6}


class soft_squash(squashed_bits):  # noqa: N801
    """squashed_bits without the rounding: the continuous weight ACosR acts on (phase 1)."""

    def __call__(self, theta):
        return self.gain * self.squash(theta)


def validate(args: dict, quant) -> None:
    a = C.check_args(NAME, args, DEFAULTS)
    C.need_quant(NAME, quant)
    C.check_number(NAME, "lam", a["lam"])
    C.check_int(NAME, "warmup_epochs", a["warmup_epochs"], 0)
    C.check_int(NAME, "ramp_epochs", a["ramp_epochs"], 1)
    C.check_int(NAME, "soft_epochs", a["soft_epochs"], 0)
    if not isinstance(a["squash"], bool):
        raise C.SchemeError(f"scheme {NAME!r}: scheme_args.squash must be true or false")


def kernel_quantizers(quant, gains: dict | None, names, soft: bool) -> dict:
    if gains is not None:  # squashed
        return C.squashed_kernels(gains, quant.weight_bits, soft_squash if soft else squashed_bits)
    return {n: (None if soft else quant.kernel_quantizer(n)) for n in names}


def grid_step(quant, name, squash: bool) -> float:
    if squash:
        return 1.0 / 2 ** (quant.weight_bits - 1)
    return 2.0 ** (quant.weight_int.get(name, quant.default_weight_int) - quant.weight_bits + 1)


def latent_offsets(model, quant, names, squash: bool) -> np.ndarray:
    """Distance of every weight (squashed value with squash) to its nearest grid point, in steps."""
    out = []
    for n in names:
        layer = model.get_layer(n)
        w = np.asarray(getattr(layer, C.kernel_attr(layer)))
        if squash:
            w = np.tanh(w)
        out.append(grid_offsets(w, grid_step(quant, n, squash)).ravel())
    return np.concatenate(out)


def plot_offsets(before: np.ndarray, after: np.ndarray, path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    bins = np.linspace(0, 0.5, 26)
    ax.hist(before, bins=bins, alpha=0.6, density=True, label="before (float start)")
    ax.hist(after, bins=bins, alpha=0.6, density=True, label="after ACosR phase")
    ax.set_xlabel("|w/step - round(w/step)|  (0 = on a grid point)")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def quantize(ctx: QatContext) -> QatResult:
    a = {**DEFAULTS, **ctx.args}
    squash = a["squash"]
    if squash:
        weights, quant, gains = C.folded_start(ctx, squash_bits=ctx.cfg.quant.weight_bits)
    else:
        (weights, quant), gains = C.folded_start(ctx), None
    names = list(weights)
    soft_k = kernel_quantizers(quant, gains, names, soft=True)
    hard_k = kernel_quantizers(quant, gains, names, soft=False)
    to_latent = C.to_theta(hard_k) if squash else None
    regs = {n: AbsCosineRegularizer(grid_step(quant, n, squash), 0.0, squash=hard_k[n] if squash else None)
            for n in names}
    soft = ctx.build(C.SchemeQuant(quant, kernel=lambda n: soft_k[n], kernel_regularizer=lambda n: regs[n]))
    C.assign_weights(soft, weights, to_latent)
    before = latent_offsets(soft, quant, names, squash)
    results, history = {"soft_start": ctx.evaluate(soft)}, {}
    if a["soft_epochs"]:
        ramp = LambdaRamp([r.lam for r in regs.values()], a["lam"], a["warmup_epochs"], a["ramp_epochs"], "acos_lambda")
        state = ctx.run_phase("soft", soft, a["soft_epochs"], ctx.cfg.train.qat_lr, [ramp])
        history["soft"] = state["history"]
    results["soft"] = ctx.evaluate(soft)
    after = latent_offsets(soft, quant, names, squash)

    model = ctx.build(C.SchemeQuant(quant, kernel=lambda n: hard_k[n]))
    C.copy_linear_weights(soft, model, names)
    results["rounded"] = ctx.evaluate(model)  # rounding alone after the ACosR phase
    plot_offsets(before, after, ctx.run_dir / "acos_grid_offsets.png",
                 f"{ctx.cfg.name}: lambda={a['lam']:g}, {quant.weight_bits}-bit grid")
    state = ctx.run_phase("qat", model, ctx.cfg.train.qat_epochs, ctx.cfg.train.qat_lr)
    history["qat"] = state["history"]

    entropy = {n: C.value_entropy(C.quantized_kernel(model.get_layer(n)), quant.weight_bits) for n in names}
    drop = {s: results["soft"][s]["accuracy"] - results["rounded"][s]["accuracy"] for s in results["soft"]}
    extra = {"acos": {"lambda": a["lam"], "squash": squash, "post_rounding_drop": drop,
                      "mean_grid_offset_before": float(before.mean()), "mean_grid_offset_after": float(after.mean()),
                      "bin_entropy": entropy,
                      "mean_entropy_ratio": float(np.mean([e["ratio"] for e in entropy.values()]))}}
    return C.finish(ctx, model, quant, results, history, extra,
                    kernel_bits={n: quant.weight_bits for n in names})
