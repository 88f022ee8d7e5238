"""Search loop (first-order DARTS): network weights learn on one half of the training clips,
architecture logits on the other half, alternating batch by batch (after `warmup_epochs` of
weights only); the alpha loss adds
mac_penalty * E[MACs] / MACs(widest supernet). After `epochs`, every block keeps its most
likely candidate.

    python -m qat.nas --features mfcc|raw [--data DIR] [--mac-penalty 0.3] [--epochs 8] [--reduced]
                      [--out build/nas_mfcc] [--retrain]

Writes <out>/arch.json (space, arch, expected/derived MACs, alpha history) and run configs
<out>/{float,linear8,trained_bits}.yaml that train the found architecture (model nas_mfcc /
nas_raw) with qat.train: fixed 8-bit vs trained bit-widths with a bit penalty.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from qat.nas.supernet import SearchSpace, build_supernet


@dataclass
class SearchSettings:
    epochs: int = 8
    batch_size: int = 64
    lr: float = 2e-3
    alpha_lr: float = 3e-2
    mac_penalty: float = 0.3
    warmup_epochs: int = 1  # weights only at first: an untrained supernet's CE says little about ops
    seed: int = 0

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("search epochs and batch_size must be >= 1")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError(f"warmup_epochs={self.warmup_epochs}: must be >= 0 and < epochs={self.epochs}")
        if not np.isfinite(self.mac_penalty) or self.mac_penalty < 0:
            raise ValueError(f"mac_penalty={self.mac_penalty}: must be >= 0")


def search(space: SearchSpace, x: np.ndarray, y: np.ndarray, n_classes: int, settings: SearchSettings,
           log=print) -> dict:
    tf.keras.utils.set_random_seed(settings.seed)
    net = build_supernet(space, x.shape[1:], n_classes)
    alphas = net.alphas
    weights = [v for v in net.model.trainable_variables if all(v is not a for a in alphas)]
    opt_w = tf.keras.optimizers.Adam(settings.lr)
    opt_a = tf.keras.optimizers.Adam(settings.alpha_lr)
    ce = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    max_macs = net.max_macs()
    penalty = tf.constant(settings.mac_penalty / max_macs, tf.float32)

    @tf.function
    def step_w(xb, yb):
        with tf.GradientTape() as tape:
            loss = ce(yb, net.model(xb, training=True))
        opt_w.apply_gradients(zip(tape.gradient(loss, weights), weights))
        return loss

    @tf.function
    def step_a(xb, yb):
        with tf.GradientTape() as tape:
            loss = ce(yb, net.model(xb, training=False)) + penalty * net.expected_macs()
        opt_a.apply_gradients(zip(tape.gradient(loss, alphas), alphas))
        return loss

    rng = np.random.default_rng(settings.seed)
    order = rng.permutation(len(x))
    half = len(x) // 2
    a_idx, b_idx = order[:half], order[half:]
    history = []
    started = time.time()
    for epoch in range(settings.epochs):
        pa, pb = rng.permutation(a_idx), rng.permutation(b_idx)
        n = max(1, min(len(pa), len(pb)) // settings.batch_size)
        lw = la = 0.0
        for i in range(n):
            sa = pa[i * settings.batch_size:(i + 1) * settings.batch_size]
            sb = pb[i * settings.batch_size:(i + 1) * settings.batch_size]
            lw += float(step_w(x[sa], y[sa]))
            if epoch >= settings.warmup_epochs:
                la += float(step_a(x[sb], y[sb]))
        probs = [tf.nn.softmax(a).numpy().round(3).tolist() for a in alphas]
        history.append({"epoch": epoch, "loss_w": lw / n, "loss_alpha": la / n,
                        "expected_macs": float(net.expected_macs()), "probs": probs})
        log(f"search epoch {epoch + 1}/{settings.epochs}: loss {lw / n:.3f}, E[MACs] "
            f"{float(net.expected_macs()):,.0f} / {max_macs:,.0f}, {time.time() - started:.0f} s")
    arch = net.derive()
    return {"space": space.to_dict(), "arch": arch, "candidates": space.candidates(), "max_macs": max_macs,
            "expected_macs": float(net.expected_macs()), "settings": settings.__dict__, "history": history,
            "search_seconds": round(time.time() - started, 1)}
