"""Training targets and losses of the recipe: label smoothing, mixup, knowledge distillation.

Targets are built in numpy (smoothed one-hot, then mixed), so one Keras loss serves every
phase. With distillation the target row carries the teacher's logits after the class
probabilities: ``y_true = [targets (n), teacher logits (n)]``; the loss splits it.
"""

from __future__ import annotations

import numpy as np


def smoothed_targets(labels: np.ndarray, n_classes: int, smoothing: float = 0.0) -> np.ndarray:
    """One-hot rows with `smoothing` of the mass spread evenly over all classes."""
    onehot = np.eye(n_classes, dtype=np.float32)[np.asarray(labels, dtype=np.int64)]
    return onehot * (1.0 - smoothing) + smoothing / n_classes


def mixup(x: np.ndarray, targets: np.ndarray, rng: np.random.Generator, alpha: float,
          also: tuple = ()) -> tuple:
    """Zhang et al. 2018: each example blended with a random partner, lam ~ Beta(alpha, alpha).
    Returns (x, targets, *also): arrays in `also` (other views of the same examples, e.g. a
    distillation teacher's own features) are blended with the same partners and shares."""
    if alpha <= 0:
        return (x, targets, *also)
    partner = rng.permutation(len(x))
    lam = rng.beta(alpha, alpha, size=len(x)).astype(np.float32)
    lam = np.maximum(lam, 1 - lam)  # the example keeps the larger share: its own label dominates

    def blend(a: np.ndarray) -> np.ndarray:
        share = lam.reshape((-1,) + (1,) * (a.ndim - 1))
        return share * a + (1 - share) * a[partner]

    return (blend(x), blend(targets), *(blend(a) for a in also))


def distillation_loss_np(targets, student_logits, teacher_logits, alpha: float, temperature: float) -> np.ndarray:
    """Per-example loss in numpy (the reference the Keras loss is tested against):
    (1 - alpha) * CE(targets, student) + alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T))."""
    def log_softmax(z):
        z = np.asarray(z, np.float64)
        z = z - z.max(axis=-1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))

    ce = -(np.asarray(targets) * log_softmax(student_logits)).sum(-1)
    p_t = np.exp(log_softmax(np.asarray(teacher_logits) / temperature))
    kl = (p_t * (np.log(p_t + 1e-30) - log_softmax(np.asarray(student_logits) / temperature))).sum(-1)
    return (1 - alpha) * ce + alpha * temperature ** 2 * kl


def make_loss(n_classes: int, distill_alpha: float = 0.0, temperature: float = 1.0, l2: float = 0.0, kernels=()):
    """Keras loss on soft targets (and teacher logits when distill_alpha > 0), plus
    l2 * sum(k^2) over `kernels` (the Keras `l2` regularizer's form, without changing the model)."""
    import tensorflow as tf

    kernels = list(kernels)

    def loss(y_true, y_pred):
        targets = y_true[:, :n_classes]
        log_p = tf.nn.log_softmax(y_pred)
        per_example = -tf.reduce_sum(targets * log_p, axis=-1)
        if distill_alpha > 0:
            teacher = y_true[:, n_classes:]
            p_t = tf.nn.softmax(teacher / temperature)
            kl = tf.reduce_sum(p_t * (tf.math.log(p_t + 1e-30) - tf.nn.log_softmax(y_pred / temperature)), axis=-1)
            per_example = (1 - distill_alpha) * per_example + distill_alpha * temperature ** 2 * kl
        if l2 > 0 and kernels:
            per_example = per_example + l2 * tf.add_n([tf.reduce_sum(tf.square(k)) for k in kernels])
        return per_example

    return loss


def target_accuracy(n_classes: int):
    """Keras metric: argmax of the prediction vs argmax of the (soft) target columns."""
    import tensorflow as tf

    def accuracy(y_true, y_pred):
        return tf.cast(tf.equal(tf.argmax(y_true[:, :n_classes], -1), tf.argmax(y_pred, -1)), tf.float32)

    return accuracy


def kernel_variables(model) -> list:
    """The weight kernels of a model (dense, conv, depthwise; QKeras latents included), not
    biases, BatchNorm or quantizer parameters: what weight decay acts on."""
    return [v for v in model.trainable_variables
            if v.name.split("/")[-1].split(":")[0] in ("kernel", "depthwise_kernel")]
