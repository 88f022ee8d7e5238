"""The training recipe's pieces on known inputs: SpecAugment masks, targets (label smoothing,
mixup), the distillation loss, the LR schedule, what weight decay acts on, config checks."""

import numpy as np
import pytest

from qat.data.augment import recut_silence, spec_augment
from qat.data.labels import CLASSES, SILENCE
from qat.losses import distillation_loss_np, kernel_variables, make_loss, mixup, smoothed_targets
from qat.run_config import RunConfig, RunConfigError
from qat.train import lr_at


def test_spec_augment_masks_counts_widths_and_fill():
    rng = np.random.default_rng(0)
    x = np.ones((200, 49, 10), np.float32)
    out = spec_augment(x, rng, time_masks=2, time_width=8, freq_masks=1, freq_width=3, fill=-7.0)
    assert out is x and out.shape == (200, 49, 10)  # in place, shape kept
    assert set(np.unique(out)) <= {1.0, -7.0}  # only the fill value is written
    masked_t = (out == -7.0).all(axis=2).sum(axis=1)  # frames blanked across all bins
    masked_f = (out == -7.0).all(axis=1).sum(axis=1)  # bins blanked across all frames
    assert masked_t.max() <= 2 * 8 and masked_f.max() <= 3
    assert masked_t.mean() > 2 and masked_f.mean() > 0.5  # masks do happen (expected ~8 and ~1.5)
    # every blanked cell lies in a blanked frame or a blanked bin: no other pattern is written
    cells = out == -7.0
    explained = cells.all(axis=2, keepdims=True) | cells.all(axis=1, keepdims=True)
    assert not (cells & ~explained).any()


def test_spec_augment_off_and_time_only():
    x = np.ones((10, 49, 1), np.float32)
    spec_augment(x, np.random.default_rng(1), freq_masks=3, freq_width=5)
    assert (x == 1).all()  # one bin: nothing to mask along frequency
    spec_augment(x, np.random.default_rng(1), time_masks=1, time_width=49)
    assert (x == 0).any()


def test_silence_recut_replaces_only_silence_rows():
    rng = np.random.default_rng(0)
    audio = np.full((6, 16000), 0.25, np.float32)
    labels = np.array([CLASSES.index(SILENCE), 3, 4, CLASSES.index(SILENCE), 5, 6])
    noise = [np.linspace(-0.5, 0.5, 40000, dtype=np.float32)]
    out = recut_silence(audio, labels, noise, rng, volume=1.0)
    assert (out[[1, 2, 4, 5]] == 0.25).all() and (audio == 0.25).all()  # others and the input untouched
    assert not np.allclose(out[0], 0.25) and not np.allclose(out[0], out[3])  # fresh, different slices
    assert np.abs(out[[0, 3]]).max() <= 0.5


def test_label_smoothing_values():
    t = smoothed_targets(np.array([0, 2]), 4, 0.1)
    np.testing.assert_allclose(t, [[0.925, 0.025, 0.025, 0.025], [0.025, 0.025, 0.925, 0.025]], rtol=1e-6)
    np.testing.assert_allclose(t.sum(1), 1.0, rtol=1e-6)


def test_mixup_blends_inputs_and_targets_alike():
    rng = np.random.default_rng(0)
    x = np.arange(8, dtype=np.float32)[:, None] * np.ones((8, 3), np.float32)
    t = np.eye(8, dtype=np.float32)
    xm, tm = mixup(x, t, rng, alpha=0.4)
    # the target of each row says exactly how it was blended: x_mix = sum_k t_k * x_k
    np.testing.assert_allclose(xm, tm @ x, rtol=1e-5)
    assert (tm.max(1) >= 0.5 - 1e-6).all()  # the row's own label keeps the larger share
    assert mixup(x, t, rng, 0.0)[0] is x
    # another view of the same rows (a teacher's own features) gets the same partners and shares,
    # and the draws do not change with it
    other = np.arange(8, dtype=np.float32)[:, None] * np.arange(1, 6, dtype=np.float32)
    xa, ta, oa = mixup(x, t, np.random.default_rng(0), 0.4, also=(other,))
    np.testing.assert_array_equal(xa, xm)
    np.testing.assert_array_equal(ta, tm)
    np.testing.assert_allclose(oa, tm @ other, rtol=1e-5)


def test_distillation_loss_on_known_logits():
    import tensorflow as tf

    targets = np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]], np.float32)
    student = np.array([[2.0, 0.0, -1.0], [0.0, 1.0, 1.0]], np.float32)
    teacher = np.array([[3.0, 0.0, 0.0], [0.0, 1.0, 1.0]], np.float32)
    # hand value, row 1, alpha 0.5, T 2: CE = log(1 + e^-2 + e^-3); KL of softmax(teacher/2) to softmax(student/2)
    ce = np.log(1 + np.exp(-2) + np.exp(-3))
    pt = np.exp([1.5, 0, 0]) / np.exp([1.5, 0, 0]).sum()
    ps = np.exp([1.0, 0, -0.5]) / np.exp([1.0, 0, -0.5]).sum()
    want0 = 0.5 * ce + 0.5 * 4 * float((pt * np.log(pt / ps)).sum())
    ref = distillation_loss_np(targets, student, teacher, 0.5, 2.0)
    assert ref[0] == pytest.approx(want0, rel=1e-9)
    # the second row: the student equals the teacher, so only the cross-entropy is left
    assert ref[1] == pytest.approx(0.5 * -np.log(np.exp(1) / (1 + 2 * np.exp(1))), rel=1e-9)
    keras_loss = make_loss(3, 0.5, 2.0)(tf.constant(np.concatenate([targets, teacher], 1)), tf.constant(student))
    np.testing.assert_allclose(keras_loss.numpy(), ref, rtol=1e-5)
    plain = make_loss(3)(tf.constant(targets), tf.constant(student)).numpy()
    np.testing.assert_allclose(plain, distillation_loss_np(targets, student, teacher, 0.0, 1.0), rtol=1e-5)


def test_weight_decay_acts_on_kernels_only():
    import tensorflow as tf

    from qat.models import build_model

    model = build_model("dscnn", (49, 10, 1), 12, None, width=8)
    names = {v.name.split(":")[0] for v in kernel_variables(model)}
    assert names and all(n.endswith("kernel") for n in names)
    assert any("depthwise_kernel" in n for n in names) and not any("_bn" in n for n in names)
    loss = make_loss(12, l2=1e-2, kernels=kernel_variables(model))
    y = tf.constant(smoothed_targets(np.array([1]), 12))
    logits = tf.zeros((1, 12))
    l2 = sum(float(tf.reduce_sum(tf.square(v))) for v in kernel_variables(model))
    assert float(loss(y, logits)[0]) == pytest.approx(np.log(12) + 1e-2 * l2, rel=1e-5)


def test_lr_schedule_warmup_then_cosine():
    lrs = [lr_at(e, 10, 1.0, 2) for e in range(10)]
    assert lrs[0] == pytest.approx(1 / 3) and lrs[1] == pytest.approx(2 / 3) and lrs[2] == pytest.approx(1.0)
    assert all(a > b for a, b in zip(lrs[2:], lrs[3:]))  # decays after warm-up
    assert lr_at(0, 10, 1.0, 0) == 1.0


@pytest.mark.parametrize("train, words", [
    ({"select": "first"}, "train.select"),
    ({"label_smoothing": 1.0}, "label_smoothing"),
    ({"mixup": -1}, "train.mixup"),
    ({"spec_augment": {"time_mask": 2}}, "spec_augment"),
    ({"distill": {"alpha": 2}}, "alpha"),
    ({"distill": {"beta": 1}}, "unknown key"),
    ({"distill": {"teacher": ["a", "b/c"]}}, "list of such names"),
    ({"distill": {"teacher": []}}, "list of such names"),
    ({"distill": {"teacher_seeds": [0]}}, "name the teacher"),
    ({"distill": {"teacher": "a", "teacher_seeds": [-1]}}, "teacher_seeds"),
])
def test_bad_recipe_settings_are_refused(train, words):
    with pytest.raises(RunConfigError, match=words):
        RunConfig.from_dict({"name": "x", "train": train})


def _saved_model(path, input_shape):
    from qat.models import build_model

    build_model("streaming_ffn" if len(input_shape) == 1 else "dscnn", input_shape, 12, None, width=8).save(path / "model.h5")


def test_distillation_teacher_checked_before_training(tmp_path):
    from qat.teacher import load_teacher as check_teacher

    quant = {"weight_bits": 8, "act_bits": 8}
    cfg = RunConfig.from_dict({"name": "s", "quant": quant, "train": {"distill": {"teacher": "nope"}}})
    with pytest.raises(RunConfigError, match="nope/model.h5 not found"):
        check_teacher(cfg, tmp_path)
    (tmp_path / "wrong").mkdir()
    _saved_model(tmp_path / "wrong", (1960,))
    cfg = RunConfig.from_dict({"name": "s", "quant": quant, "train": {"distill": {"teacher": "wrong"}}})
    with pytest.raises(RunConfigError, match=r"reads \(1960,\).*this run's model reads \(49, 10, 1\)"):
        check_teacher(cfg, tmp_path)
    (tmp_path / "right").mkdir()
    _saved_model(tmp_path / "right", (49, 10, 1))
    cfg = RunConfig.from_dict({"name": "s", "quant": quant, "train": {"distill": {"teacher": "right"}}})
    assert check_teacher(cfg, tmp_path) is not None
    with pytest.raises(RunConfigError, match="float run .* distils from a named teacher"):
        check_teacher(RunConfig.from_dict({"name": "s", "train": {"distill": {}}}), tmp_path)
    float_cfg = RunConfig.from_dict({"name": "s", "train": {"distill": {"teacher": "right"}}})
    assert check_teacher(float_cfg, tmp_path) is not None  # a float run distils from a named teacher
    seeds = RunConfig.from_dict({"name": "s", "train": {"distill": {"teacher": "right", "teacher_seeds": [0, 1]}}})
    with pytest.raises(RunConfigError, match="teacher_seeds picks the teacher's fold runs in cross-validation"):
        check_teacher(seeds, tmp_path)  # outside CV it would pick nothing: said, not ignored


def test_ensemble_teacher_gives_the_mean_of_its_members_logits(tmp_path):
    from qat.models import load_model
    from qat.teacher import load_teacher

    for name in ("t0", "t1"):
        (tmp_path / name).mkdir()
        _saved_model(tmp_path / name, (49, 10, 1))
    cfg = RunConfig.from_dict({"name": "s", "train": {"distill": {"teacher": ["t0", "t1"]}}})
    x = np.random.default_rng(0).normal(size=(5, 49, 10, 1)).astype(np.float32)
    members = [load_model(tmp_path / n / "model.h5").predict(x, verbose=0) for n in ("t0", "t1")]
    assert not np.allclose(*members)
    want = np.mean(members, axis=0)
    np.testing.assert_allclose(load_teacher(cfg, tmp_path).logits(x), want, rtol=1e-5, atol=1e-6)


def test_a_teacher_reading_other_features_is_given_its_own(tmp_path):
    """The streaming FFN (log-mel) distils from a DS-CNN (MFCC): the teacher's run says what it reads
    (config.yaml) and how it was scaled (normalizer.npz), and it computes those features itself."""
    from qat import features
    from qat.teacher import load_teacher

    def teacher_run(name, model, shape, kind):
        (tmp_path / name).mkdir()
        _saved_model(tmp_path / name, shape)
        RunConfig.from_dict({"name": name, "model": model}).save(tmp_path / name / "config.yaml")
        norm = features.Normalizer.fit(kind, features.compute(kind, audio))
        norm.save(tmp_path / name / "normalizer.npz")
        return norm

    audio = np.random.default_rng(0).normal(0, 0.1, size=(6, 16000)).astype(np.float32)
    norm = teacher_run("cnn", "dscnn", (49, 10, 1), "mfcc")
    teacher_run("ffn", "streaming_ffn", (1960,), "logmel")

    def student(model, teacher):
        return RunConfig.from_dict({"name": "s", "model": model, "train": {"distill": {"teacher": teacher}}})

    teacher = load_teacher(student("streaming_ffn", "cnn"), tmp_path)
    assert teacher.spec == features.FeatureSpec("mfcc")
    np.testing.assert_array_equal(teacher.features(audio), norm("mfcc", features.compute("mfcc", audio)))
    assert load_teacher(student("dscnn", "cnn"), tmp_path).spec is None  # reads the student's input, as before
    with pytest.raises(RunConfigError, match=r"ensemble \['cnn', 'ffn'\] mixes features"):
        load_teacher(student("streaming_ffn", ["cnn", "ffn"]), tmp_path)


def test_epoch_targets_mix_a_teachers_own_features_like_the_students():
    from types import SimpleNamespace

    from qat.teacher import Teacher
    from qat.train import epoch_targets

    class FirstTwelve:  # a "model" whose logits are the first 12 values of what it reads
        def predict(self, x, batch_size, verbose):
            return x.reshape(len(x), -1)[:, :12]

    x = np.random.default_rng(1).normal(size=(10, 30)).astype(np.float32)
    own = np.random.default_rng(2).normal(size=(10, 20)).astype(np.float32)
    labels = np.arange(10) % 12
    tc = SimpleNamespace(label_smoothing=0.0, mixup=0.3)
    xm, targets = epoch_targets(x, labels, tc, np.random.default_rng(3), 12, Teacher(FirstTwelve()), own)
    want_x, want_t, want_own = mixup(x, smoothed_targets(labels, 12, 0.0), np.random.default_rng(3), 0.3, also=(own,))
    assert not np.allclose(want_own, own)  # the draws did blend
    np.testing.assert_array_equal(xm, want_x)
    np.testing.assert_array_equal(targets[:, :12], want_t)
    np.testing.assert_array_equal(targets[:, 12:], want_own[:, :12])
    # a teacher of the student's input reads the student's mixed input
    _, same = epoch_targets(x, labels, tc, np.random.default_rng(3), 12, Teacher(FirstTwelve()))
    np.testing.assert_array_equal(same[:, 12:], want_x[:, :12])
