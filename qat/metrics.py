"""What a run reports: accuracy, confusion matrix, parameters, MACs, weight memory; and plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tensorflow import keras

from qat.data.labels import CLASSES


def confusion(labels: np.ndarray, predicted: np.ndarray, n: int = len(CLASSES)) -> np.ndarray:
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (labels, predicted), 1)
    return cm


def layer_macs(layer) -> int:
    """Multiply-accumulates of one inference through a Conv/Depthwise/Dense layer (0 for others)."""
    kind = type(layer).__name__.lstrip("Q")
    if kind not in ("Conv1D", "Conv2D", "DepthwiseConv2D", "Dense"):
        return 0
    out = layer.output_shape[1:]
    kernel = layer.get_weights()[0]
    if kind == "Dense":
        return int(kernel.shape[0] * kernel.shape[1])
    positions = int(np.prod(out[:-1]))
    if kind == "DepthwiseConv2D":
        return positions * int(np.prod(kernel.shape))  # kh*kw*C*1
    return positions * int(np.prod(kernel.shape))  # k*(kh)*Cin*Cout over output positions


def model_cost(model: keras.Model, quant=None) -> dict:
    """Parameters, MACs and weight memory in bits (float32 when not quantized)."""
    params = macs = bits = 0
    per_layer = {}
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights or isinstance(layer, keras.layers.BatchNormalization):
            params += sum(w.size for w in weights)
            bits += 32 * sum(w.size for w in weights)
            continue
        n = sum(w.size for w in weights)
        m = layer_macs(layer)
        if quant is not None and len(weights) >= 1:
            b = weights[0].size * quant.weight_bits + sum(w.size for w in weights[1:]) * quant.bias_bits
        else:
            b = 32 * n
        params, macs, bits = params + n, macs + m, bits + b
        per_layer[layer.name] = {"params": int(n), "macs": int(m), "weight_bits": int(b)}
    return {"params": int(params), "macs": int(macs), "weight_memory_bits": int(bits), "layers": per_layer}


def plot_history(history: dict[str, dict[str, list[float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    offset = 0
    for phase, h in history.items():
        epochs = np.arange(offset + 1, offset + len(h.get("loss", [])) + 1)
        for key, ax in (("loss", ax_loss), ("accuracy", ax_acc)):
            if h.get(key):
                ax.plot(epochs, h[key], label=f"{phase} train")
            if h.get(f"val_{key}"):
                ax.plot(epochs, h[f"val_{key}"], "--", label=f"{phase} validation")
        if offset:
            for ax in (ax_loss, ax_acc):
                ax.axvline(offset + 0.5, color="grey", lw=0.5)
        offset += len(h.get("loss", []))
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    ax_acc.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion(cm: np.ndarray, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 6))
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for (i, j), v in np.ndenumerate(cm):
        if v:
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7, color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(CLASSES)), CLASSES, rotation=60, fontsize=8)
    ax.set_yticks(range(len(CLASSES)), CLASSES, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
