"""qat.cv_table: one row per finished cross-validation, screens left out, testing-list runs joined."""

import json

from qat.cv_table import collect, main, markdown


def _cv(root, name, acc, float_acc, seeds=(0, 1, 2), scored=(0, 1, 2, 3, 4), det=None):
    d = root / name
    d.mkdir(parents=True)
    d.joinpath("cv.json").write_text(json.dumps({**({"det": det} if det else {}),
        "folds": 5, "scored_folds": list(scored), "seeds": list(seeds), "clips": 3454,
        "accuracy_per_seed": [acc] * len(seeds), "accuracy_mean": acc, "accuracy_std_seeds": 0.005,
        "accuracy_std_folds": 0.03, "float_accuracy_mean": float_acc, "params": 100, "macs": 2000,
        "weight_memory_bits": 800 if "float" in name else 200, "train_seconds_mean": 60.0}))


def test_rows_deltas_screens_and_testing_list(tmp_path):
    cv, build = tmp_path / "cv", tmp_path / "build"
    _cv(cv, "gsc_dscnn_float_k5", 0.853, 0.853)
    _cv(cv, "gsc_dscnn_linear4_k5", 0.8284, 0.853)
    _cv(cv, "gsc_dscnn_linear8_k5", 0.8551, 0.853)
    _cv(cv, "gsc_dscnn_float_mix_k5_f01", 0.82, 0.82, seeds=(0,), scored=(0, 1))  # a screen: left out
    (build / "gsc_dscnn_linear4").mkdir(parents=True)
    (build / "gsc_dscnn_linear4" / "metrics.json").write_text(json.dumps(
        {"accuracy": {"float": {"test": 0.8}, "quantized": {"test": 0.78}}, "clips": {"test": 469}}))
    rows = collect(cv, build)
    assert [(r["config"], r["precision"]) for r in rows] == [
        ("gsc_dscnn_float", "float"), ("gsc_dscnn_linear8", "8-bit"), ("gsc_dscnn_linear4", "4-bit")]
    text = markdown(rows)
    assert "| `gsc_dscnn_linear4` | 4-bit | 0 1 2 | **82.84% ± 0.50%** | -2.5 pt |" in text
    assert "| +0.2 pt |" in text and "78.0% (469)" in text and text.count("not run") == 2
    one_seed = tmp_path / "one"
    _cv(one_seed, "gsc_ffn_float_k5", 0.6, 0.6, seeds=(0,))
    assert "**60.00%** (one seed)" in markdown(collect(one_seed, build))
    assert main(["--cv-dir", str(cv), "--build-dir", str(build)]) == 0
    assert (cv / "results.md").read_text() == text and (cv / "results.png").stat().st_size > 0


def test_nothing_to_tabulate_is_an_error(tmp_path, capsys):
    assert main(["--cv-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: no finished cross-validation")


def test_det_figure_per_model_from_the_cvs_run_with_det(tmp_path):
    def det(frr):
        return {"points": [(0.5, frr, 10.0), (0.9, frr + 0.2, 1.0)], "hours": 2.16, "keyword_clips": 2889, "streams": 5}

    cv = tmp_path / "cv"
    _cv(cv, "gsc_ffn_two_stage_w1_k5", 0.63, 0.67, seeds=(0,), det={"final": det(0.5), "float": det(0.4)})
    _cv(cv, "gsc_ffn_two_stage_w8_k5", 0.67, 0.67, seeds=(0,), det={"final": det(0.4), "float": det(0.4)})
    _cv(cv, "gsc_dscnn_float_k5", 0.86, 0.86)  # no --det: no DET figure for the DS-CNN
    assert main(["--cv-dir", str(cv), "--build-dir", str(tmp_path / "build")]) == 0
    assert (cv / "results_det_ffn.png").stat().st_size > 1000 and not (cv / "results_det_dscnn.png").exists()
