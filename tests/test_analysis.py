"""fer_keras.analysis: calibration, mistakes, occlusion, embedding, captions and analyze_model on known inputs."""

from __future__ import annotations

import inspect
import json
import warnings

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image
from scipy.special import softmax

from fer_keras.analysis import (
    FIGURE_KINDS,
    analyze_model,
    apply_temperature,
    calibration_caption,
    collect_arrays,
    confident_mistakes,
    confused_pairs,
    confusions_caption,
    embed_2d,
    expected_calibration_error,
    fit_temperature,
    format_probability,
    mistakes_caption,
    neighbour_agreement,
    occlusion_caption,
    occlusion_map,
    occlusion_maps,
    occlusion_summary,
    penultimate_features,
    pick_examples,
    plot_mistakes,
    plot_reliability,
    reliability_bins,
    save_palette_figure,
    stratified_indices,
)
from fer_keras.analysis.occlusion import patch_starts
from fer_keras.data.augment import augmentation_layer
from fer_keras.data.fast import ArrayDataset
from fer_keras.data.fer import DEFAULT_AUGMENTATION, image_generator
from fer_keras.models import build_fashion_mlp, build_fer_cnn

NAMES = ["happy", "sad", "neutral"]


@pytest.fixture(autouse=True)
def _agg_backend():
    plt.switch_backend("Agg")
    yield
    plt.close("all")


def _two_class(confidences: list[float], correct: list[bool]) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (N, 2) predicting class 0 at ``confidences``; the label is 0 where ``correct``."""
    c = np.asarray(confidences, dtype=float)
    return np.stack([c, 1 - c], axis=1), np.where(correct, 0, 1)


# --- calibration -------------------------------------------------------------------------------------------------


def test_ece_of_a_perfectly_calibrated_set_is_zero() -> None:
    # 80 of 100 right at confidence 0.8, 60 of 100 right at 0.6: accuracy equals confidence in each bin.
    probs, y = _two_class([0.8] * 100 + [0.6] * 100, [True] * 80 + [False] * 20 + [True] * 60 + [False] * 40)
    assert expected_calibration_error(probs, y) == pytest.approx(0.0, abs=1e-12)


def test_ece_of_sampled_calibrated_predictions_is_near_zero() -> None:
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.5, 1.0, 50_000)
    probs, y = _two_class(list(confidence), list(rng.uniform(size=confidence.size) < confidence))
    assert expected_calibration_error(probs, y) < 0.01


def test_ece_and_bins_of_a_hand_made_miscalibrated_set() -> None:
    # 10 at 0.9 with 6 right (over-confident by 0.3), 10 at 0.55 with 7 right (under-confident by 0.15).
    probs, y = _two_class([0.9] * 10 + [0.55] * 10, [True] * 6 + [False] * 4 + [True] * 7 + [False] * 3)
    assert expected_calibration_error(probs, y) == pytest.approx((10 * 0.3 + 10 * 0.15) / 20)
    bins = reliability_bins(probs, y)
    assert len(bins) == 15 and bins["count"].sum() == 20
    high, mid = bins.iloc[13], bins.iloc[8]  # (13/15, 14/15] holds 0.9; (8/15, 9/15] holds 0.55
    assert (high["count"], high["confidence"], high["accuracy"]) == (10, pytest.approx(0.9), pytest.approx(0.6))
    assert (mid["count"], mid["accuracy"], mid["gap"]) == (10, pytest.approx(0.7), pytest.approx(-0.15))
    assert np.isnan(bins.iloc[0]["accuracy"])  # empty bins stay in the table, without numbers
    caption = calibration_caption(bins, 0.225)
    assert caption.startswith("ECE 0.225;") and "0.87–0.93" in caption and "over-confident" in caption
    assert "mean confidence 0.90, accuracy 0.60 (10 images)" in caption


def test_bins_are_closed_on_the_right() -> None:
    probs, y = _two_class([1.0, 0.5, 0.5 + 1e-9], [True, True, True])
    bins = reliability_bins(probs, y, n_bins=2)
    assert bins["count"].tolist() == [1, 2]  # 0.5 falls in (0, 0.5], 1.0 in (0.5, 1]


def test_calibration_caption_when_every_bin_is_calibrated() -> None:
    probs, y = _two_class([0.8] * 5, [True] * 4 + [False])
    caption = calibration_caption(reliability_bins(probs, y), 0.0)
    assert caption == "ECE 0.000; confidence matches accuracy in every filled bin (5 images)"


def _synthetic_logits(temperature: float, n: int = 6000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose labels are drawn from softmax(logits / temperature): the true temperature is known."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 3.0, size=(n, 4))
    truth = softmax(logits / temperature, axis=1)
    labels = np.array([rng.choice(4, p=p) for p in truth])
    return logits, labels


@pytest.mark.parametrize("true_t", [0.5, 2.0])
def test_fit_temperature_recovers_a_known_temperature(true_t: float) -> None:
    logits, labels = _synthetic_logits(true_t)
    fitted = fit_temperature(logits, labels)
    assert fitted == pytest.approx(true_t, rel=0.1)
    # Softmax probabilities give the same temperature as their logits (log p differs by a per-row constant).
    assert fit_temperature(softmax(logits, axis=1), labels) == pytest.approx(fitted, rel=1e-3)
    scaled = apply_temperature(softmax(logits, axis=1), fitted)
    np.testing.assert_allclose(scaled, softmax(logits / fitted, axis=1), rtol=1e-6)
    assert expected_calibration_error(scaled, labels) < expected_calibration_error(softmax(logits, axis=1), labels)


def test_fit_temperature_takes_only_validation_arrays() -> None:
    params = inspect.signature(fit_temperature).parameters
    assert [name for name, p in params.items() if p.kind is not p.KEYWORD_ONLY] == ["val_scores", "y_val"]
    with pytest.raises(ValueError, match="labels"):
        fit_temperature(np.ones((3, 2)) / 2, [0, 1])


# --- mistakes ----------------------------------------------------------------------------------------------------


def test_confident_mistakes_are_ranked_by_confidence() -> None:
    probs = np.array(
        [
            [0.9, 0.05, 0.05],  # right
            [0.2, 0.7, 0.1],  # wrong (true 0) at 0.7
            [0.1, 0.1, 0.8],  # wrong (true 1) at 0.8
            [0.5, 0.4, 0.1],  # wrong (true 2) at 0.5
            [0.05, 0.05, 0.9],  # right
            [0.3, 0.6, 0.1],  # wrong (true 2) at 0.6
        ]
    )
    y = np.array([0, 0, 1, 2, 2, 2])
    top = confident_mistakes(probs, y, k=3)
    assert top["index"].tolist() == [2, 1, 5]
    assert top["true"].tolist() == [1, 0, 2] and top["predicted"].tolist() == [2, 1, 1]
    assert top["confidence"].tolist() == pytest.approx([0.8, 0.7, 0.6])
    assert len(confident_mistakes(probs, y, k=10)) == 4
    caption = mistakes_caption(top, NAMES, 4, 6)
    assert caption == "Most confident mistake: sad predicted as neutral at 0.80 (4 of 6 test images wrong)"
    pairs = confused_pairs(y, probs.argmax(axis=1), NAMES, k=2)
    # four pairs of one confusion each: the tie goes to the larger share of the true class (sad: 1 of 1)
    assert pairs.iloc[0][["true", "predicted", "count"]].tolist() == ["sad", "neutral", 1]
    assert confusions_caption(pairs) == "Most confused pair: sad predicted as neutral, 1 time (100% of sad)"


def test_no_mistakes_is_said_so() -> None:
    probs, y = np.eye(3)[[0, 1, 2, 0]], np.array([0, 1, 2, 0])
    top = confident_mistakes(probs, y, k=5)
    assert top.empty
    assert mistakes_caption(top, NAMES, 0, 4) == "No mistakes: all 4 test images are classified correctly."
    assert confusions_caption(confused_pairs(y, y, NAMES)).startswith("No confused pairs")
    assert isinstance(plot_mistakes(np.zeros((4, 8, 8)), top, NAMES), plt.Figure)


# --- occlusion ---------------------------------------------------------------------------------------------------


class CountingModel(keras.Model):
    """A functional model that counts its ``predict`` calls."""

    predict_calls = 0

    def predict(self, *args, **kwargs):
        type(self).predict_calls += 1
        return super().predict(*args, **kwargs)


def top_left_model(size: int = 16) -> keras.Model:
    """Class 0's logit is the sum of the top-left quadrant's pixels minus a threshold; nothing else is seen."""
    inputs = keras.Input((size, size, 1))
    mask = np.zeros((size, size), dtype=np.float32)
    mask[: size // 2, : size // 2] = 1.0
    evidence = keras.layers.Dense(1, use_bias=False, name="mask")(keras.layers.Flatten()(inputs))
    outputs = keras.layers.Dense(2, activation="softmax", name="head")(evidence)
    model = CountingModel(inputs, outputs)
    model.get_layer("mask").set_weights([mask.reshape(-1, 1) * 0.1])
    threshold = 0.1 * (size // 2) ** 2 / 2
    model.get_layer("head").set_weights([np.array([[1.0, -1.0]]), np.array([-threshold, threshold])])
    return model


def test_patch_starts_cover_the_edges() -> None:
    assert patch_starts(16, 4, 2) == [0, 2, 4, 6, 8, 10, 12]
    assert patch_starts(10, 4, 4) == [0, 4, 6]
    with pytest.raises(ValueError, match="patch"):
        patch_starts(8, 9, 1)


def test_occlusion_map_peaks_in_the_only_region_the_model_sees() -> None:
    model = top_left_model()
    image = np.ones((16, 16, 1), dtype=np.float32)
    CountingModel.predict_calls = 0
    heat = occlusion_map(model, image, 0, patch=4, stride=2, fill=0.0)
    assert CountingModel.predict_calls == 1  # the original and every occluded copy in one predict call
    assert heat.shape == (16, 16)
    row, col = np.unravel_index(heat.argmax(), heat.shape)
    assert row < 8 and col < 8
    assert heat[:8, :8].min() > 0
    assert np.all(heat[10:, :] == 0) and np.all(heat[:, 10:] == 0)  # no occluder there touches the quadrant
    assert heat[:8, :8].sum() / heat.sum() > 0.8
    summary = occlusion_summary(heat)
    assert summary["region"] == "top-left" and summary["upper_share"] > 0.9 and summary["left_share"] > 0.9
    caption = occlusion_caption(summary, 4)
    assert "upper half" in caption and "top-left" in caption
    # several images in one call give the same maps as one at a time
    CountingModel.predict_calls = 0
    maps = occlusion_maps(model, np.stack([image, image * 0.5]), [0, 1], patch=4, stride=2, fill=0.0)
    assert CountingModel.predict_calls == 1
    np.testing.assert_allclose(maps[0], heat, atol=1e-6)


def test_occlusion_caption_when_nothing_matters() -> None:
    summary = occlusion_summary(np.zeros((2, 8, 8)))
    assert summary["upper_share"] is None
    assert occlusion_caption(summary, 8).startswith("Occlusion over 2 test images: hiding any 8x8 patch barely")


def test_pick_examples_gives_right_and_wrong_per_class() -> None:
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 1, 0, 1, 1, 0])
    rows = pick_examples(y_true, y_pred, 3, per_class=2, seed=0)
    assert rows[0] == [("correct", 0), ("correct", 2), ("wrong", 1), ("wrong", None)]
    assert rows[1] == [("correct", 3), ("correct", 4), ("wrong", None), ("wrong", None)]
    assert rows[2] == [("correct", None), ("correct", None), ("wrong", 5), ("wrong", None)]


# --- embedding ---------------------------------------------------------------------------------------------------


def test_penultimate_features_have_the_width_of_the_last_hidden_layer() -> None:
    x = np.random.default_rng(0).uniform(size=(5, 16, 16, 1)).astype(np.float32)
    cnn = build_fer_cnn(
        3,
        (16, 16, 1),
        conv_blocks=((4, 1),),
        dense_units=(16, 12),
        augmentation=augmentation_layer(DEFAULT_AUGMENTATION, seed=0),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. Keras' "structure of `inputs` doesn't match" on a one-input model
        features = penultimate_features(cnn, x)
    assert features.shape == (5, 12)
    head = cnn.get_layer("predictions")  # the last Dense applied to the features gives the model's output
    np.testing.assert_allclose(np.asarray(head(features)), cnn.predict(x, verbose=0), atol=1e-5)
    mlp = build_fashion_mlp(units_1=32, units_2=24, input_shape=(16, 16, 1), num_classes=3)
    assert penultimate_features(mlp, x).shape == (5, 24)


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_embedding_is_two_dimensional_and_seeded(method: str) -> None:
    rng = np.random.default_rng(0)
    features = np.concatenate([rng.normal(0, 1, (20, 60)), rng.normal(8, 1, (20, 60))])
    points = embed_2d(features, method, seed=3)
    assert points.shape == (40, 2)
    np.testing.assert_allclose(points, embed_2d(features, method, seed=3))
    agreement = neighbour_agreement(features, [0] * 20 + [1] * 20, k=5)
    assert agreement["overall"] == 1.0 and agreement["chance"] == 0.5
    with pytest.raises(ValueError, match="method"):
        embed_2d(features, "umap")


# --- arrays ------------------------------------------------------------------------------------------------------


def test_collect_arrays_keeps_order_and_makes_labels_integer() -> None:
    images = (np.arange(7 * 4 * 4) % 251).astype(np.uint8).reshape(7, 4, 4)
    labels = np.array([0, 2, 1, 1, 0, 2, 2])
    flow = image_generator().flow(images[..., None].astype(np.float32), labels, batch_size=3, shuffle=False)
    x, y = collect_arrays(flow)
    np.testing.assert_allclose(x[..., 0], images / 255.0, atol=1e-6)
    assert y.tolist() == labels.tolist()
    one_hot = ArrayDataset(images, labels, NAMES, batch_size=2)
    x2, y2 = collect_arrays(one_hot, max_samples=5)
    assert x2.shape == (5, 4, 4, 1) and y2.tolist() == labels[:5].tolist()
    shuffled = image_generator().flow(images[..., None].astype(np.float32), labels, batch_size=3, shuffle=True)
    with pytest.raises(ValueError, match="unshuffled"):
        collect_arrays(shuffled)


def test_stratified_indices_keep_class_shares() -> None:
    y = np.array([0] * 60 + [1] * 30 + [2] * 10)
    chosen = stratified_indices(y, 50, seed=1)
    assert len(chosen) == 50 and np.all(np.diff(chosen) > 0)
    assert np.bincount(y[chosen]).tolist() == [30, 15, 5]
    assert stratified_indices(y, 500).tolist() == list(range(100))


# --- the whole analysis ------------------------------------------------------------------------------------------


def tiny_cnn(num_classes: int = 3, size: int = 12) -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((size, size, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(8, activation="relu", name="hidden")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs)


def test_analyze_model_writes_figures_and_json_ready_numbers(tmp_path) -> None:
    rng = np.random.default_rng(0)
    model = tiny_cnn()
    x_test, y_test = rng.uniform(size=(60, 12, 12, 1)).astype(np.float32), rng.integers(0, 3, 60)
    x_val, y_val = rng.uniform(size=(40, 12, 12, 1)).astype(np.float32), rng.integers(0, 3, 40)
    result = analyze_model(
        model,
        x_test,
        np.eye(3)[y_test],  # one-hot labels are accepted
        NAMES,
        x_val=x_val,
        y_val=y_val,
        out_dir=tmp_path / "figures",
        prefix="toy",
        embedding_samples=30,
        seed=0,
    )
    json.dumps(result, allow_nan=False)
    assert set(result["figures"]) == set(FIGURE_KINDS)
    for kind, path in result["figures"].items():
        assert path == str(tmp_path / "figures" / f"toy_{kind}.png")
        with open(path, "rb") as handle:
            data = handle.read()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) < 200_000
    assert set(result["captions"]) == {*FIGURE_KINDS, "top_confusions"}
    probabilities = model.predict(x_test, verbose=0)
    assert result["ece"] == pytest.approx(expected_calibration_error(probabilities, y_test))
    # the temperature comes from the validation arrays alone
    assert result["temperature"] == pytest.approx(fit_temperature(model.predict(x_val, verbose=0), y_val), rel=1e-4)
    scaled = apply_temperature(probabilities, result["temperature"])
    assert result["ece_after_temperature"] == pytest.approx(expected_calibration_error(scaled, y_test))
    assert result["captions"]["reliability"].startswith(
        f"ECE {result['ece']:.3f} ({result['ece_after_temperature']:.3f}"
    )
    ranked = [m["confidence"] for m in result["confident_mistakes"]]
    assert ranked == sorted(ranked, reverse=True) and len(ranked) == min(12, result["num_wrong"])
    assert result["embedding"]["n"] == 30 and result["embedding"]["width"] == 8
    assert len(result["occlusion"]["examples"]) <= 3 * 4


def test_analyze_model_without_validation_skips_temperature(tmp_path) -> None:
    rng = np.random.default_rng(1)
    model = tiny_cnn()
    x, y = rng.uniform(size=(30, 12, 12, 1)).astype(np.float32), rng.integers(0, 3, 30)
    result = analyze_model(model, x, y, NAMES, out_dir=tmp_path, embedding_method="pca", samples_per_class=1, seed=0)
    assert result["temperature"] is None and result["ece_after_temperature"] is None
    assert result["figures"]["reliability"] == str(tmp_path / "reliability.png")
    assert "after temperature" not in result["captions"]["reliability"]
    with pytest.raises(ValueError, match="x_val and y_val"):
        analyze_model(model, x, y, NAMES, x_val=x, out_dir=tmp_path)
    with pytest.raises(ValueError, match="3 class names"):
        analyze_model(model, x, y + 5, NAMES, out_dir=tmp_path)


def test_reliability_figure_titles_give_ece() -> None:
    probs, y = _two_class([0.9] * 10, [True] * 6 + [False] * 4)
    bins = reliability_bins(probs, y)
    fig = plot_reliability(bins, 0.3, bins_after=bins, ece_after=0.1, temperature=1.5)
    titles = [ax.get_title() for ax in fig.axes]
    assert "Softmax: ECE 0.300" in titles and "Temperature-scaled (T=1.50): ECE 0.100" in titles


def test_probabilities_near_one_keep_three_decimals() -> None:
    assert [format_probability(p) for p in (0.5, 0.994, 0.9991, 1.0)] == ["0.50", "0.99", "0.999", "1.000"]


def test_palette_figure_is_a_small_atomic_png(tmp_path) -> None:
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(12, 48, 48, 1))
    mistakes = confident_mistakes(np.tile([[0.1, 0.9]], (12, 1)), np.zeros(12, dtype=int), k=12)
    path = save_palette_figure(plot_mistakes(images, mistakes, ["a", "b"]), tmp_path / "sub" / "gallery.png")
    assert path == tmp_path / "sub" / "gallery.png" and sorted(p.name for p in path.parent.iterdir()) == ["gallery.png"]
    with Image.open(path) as image:
        assert image.format == "PNG" and image.mode == "P"
