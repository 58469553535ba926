"""Evaluation: predictions, the scikit-learn summary, confusion matrices and the overfitting read-out."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

from fer_keras.constants import FER4_CLASSES
from fer_keras.data import flow_frame, list_class_images
from fer_keras.evaluation import (
    classification_summary,
    evaluate_model,
    normalized_confusion,
    overfitting_gap,
    predict_labels,
    report_frame,
    top_confusions,
    true_labels,
)

NAMES = ["happy", "sad", "neutral"]
Y_TRUE = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
Y_PRED = [0, 0, 1, 2, 1, 1, 0, 2, 1, 1]


class FixedModel(keras.Model):
    """Predicts probabilities from the first pixel of each image: class = round(pixel * (classes - 1))."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        self.classes = classes

    def call(self, x):
        index = keras.ops.cast(keras.ops.round(x[:, 0, 0, 0] * (self.classes - 1)), "int32")
        return keras.ops.one_hot(index, self.classes)


def test_classification_summary_matches_sklearn() -> None:
    summary = classification_summary(Y_TRUE, Y_PRED, NAMES)
    assert summary["accuracy"] == pytest.approx(accuracy_score(Y_TRUE, Y_PRED)) == pytest.approx(0.5)
    expected = classification_report(Y_TRUE, Y_PRED, target_names=NAMES, output_dict=True, zero_division=0)
    assert summary["report"].keys() == expected.keys()
    for key, values in expected.items():
        if isinstance(values, dict):
            for metric, value in values.items():
                assert summary["report"][key][metric] == pytest.approx(value)
        else:
            assert summary["report"][key] == pytest.approx(values)
    assert summary["macro_f1"] == pytest.approx(expected["macro avg"]["f1-score"])
    assert summary["weighted_f1"] == pytest.approx(expected["weighted avg"]["f1-score"])
    assert summary["report"]["happy"]["precision"] == pytest.approx(2 / 3)  # 2 of 3 predicted happy are happy
    assert summary["report"]["sad"]["recall"] == pytest.approx(2 / 3)
    assert summary["num_test"] == 10
    assert summary["confusion_matrix"] == [[2, 1, 1], [1, 2, 0], [0, 2, 1]]
    assert summary["confusion_matrix"] == confusion_matrix(Y_TRUE, Y_PRED).tolist()
    assert "neutral" in summary["report_text"] and "0.500" in summary["report_text"]


def test_confusion_matrix_uses_class_order_and_counts_every_image() -> None:
    # class 3 never occurs: it still gets a row and a column, and zero scores without warnings
    names = list(FER4_CLASSES)
    summary = classification_summary([2, 2, 1, 0], [2, 1, 1, 0], names)
    cm = np.array(summary["confusion_matrix"])
    assert cm.shape == (4, 4) and cm.sum() == summary["num_test"] == 4
    assert cm[2, 1] == 1 and cm[2, 2] == 1 and cm[1, 1] == 1 and cm[0, 0] == 1
    assert cm[3].sum() == 0 and cm[:, 3].sum() == 0
    assert summary["report"]["surprise"] == {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 0.0}
    assert summary["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())


def test_normalized_confusion() -> None:
    cm = [[2, 1, 1], [0, 0, 0], [0, 3, 1]]
    rates = normalized_confusion(cm)
    np.testing.assert_allclose(rates, [[0.5, 0.25, 0.25], [0, 0, 0], [0, 0.75, 0.25]])
    np.testing.assert_allclose(rates.sum(axis=1), [1, 0, 1])  # the empty row stays 0, not NaN
    assert not np.isnan(rates).any()


def test_top_confusions_ordering() -> None:
    cm = [[10, 3, 1], [3, 5, 0], [2, 4, 6]]
    top = top_confusions(cm, NAMES, k=3)
    assert list(top.columns) == ["true", "predicted", "count", "share_of_true"]
    # by count, ties broken by share of the true class (sad->happy 3/8 beats happy->sad 3/14)
    assert list(zip(top["true"], top["predicted"], top["count"], strict=True)) == [
        ("neutral", "sad", 4),
        ("sad", "happy", 3),
        ("happy", "sad", 3),
    ]
    assert top["share_of_true"].tolist() == pytest.approx([4 / 12, 3 / 8, 3 / 14])
    assert len(top_confusions(cm, NAMES, k=10)) == 5  # only non-zero off-diagonal pairs
    assert top_confusions(np.eye(3, dtype=int), NAMES).empty


def test_overfitting_gap() -> None:
    history = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.8], "accuracy": [0.6, 0.9], "val_accuracy": [0.55, 0.7]}
    gap = overfitting_gap(history)
    assert gap == pytest.approx(
        {
            "epochs": 2,
            "train_accuracy": 0.9,
            "val_accuracy": 0.7,
            "accuracy_gap": 0.2,
            "train_loss": 0.5,
            "val_loss": 0.8,
            "loss_gap": 0.3,
        }
    )
    assert overfitting_gap({"loss": [1.0, 0.9, 0.8]}) == {"epochs": 3}  # no validation: no gaps
    assert overfitting_gap({}) == {"epochs": 0}


def test_report_frame() -> None:
    summary = classification_summary(Y_TRUE, Y_PRED, NAMES)
    frame = report_frame(summary["report"])
    assert list(frame.index) == [*NAMES, "macro avg", "weighted avg"]  # "accuracy" is a scalar, left out
    assert list(frame.columns) == ["precision", "recall", "f1-score", "support"]
    assert frame.loc["sad", "recall"] == pytest.approx(2 / 3)
    assert frame.loc["happy", "support"] == 4 and frame.loc["weighted avg", "support"] == 10


def test_true_labels() -> None:
    class WithClasses:
        classes = [2, 0, 1]

    class WithY:
        classes = None
        y = np.array([1.0, 3.0])

    assert true_labels(WithClasses()).tolist() == [2, 0, 1]
    labels = true_labels(WithY())
    assert labels.tolist() == [1, 3] and labels.dtype.kind == "i"
    with pytest.raises(TypeError, match="neither .classes nor .y"):
        true_labels(object())


def test_predict_and_evaluate_on_real_iterator(fer_tree: Path) -> None:
    frame = list_class_images(fer_tree / "fer2013" / "test", FER4_CLASSES)
    iterator = flow_frame(frame, FER4_CLASSES, batch_size=5)
    labels = true_labels(iterator)
    assert labels.tolist() == [0] * 6 + [1] * 6 + [2] * 6 + [3] * 6  # from .classes, in file order

    model = FixedModel(4)
    first_pixels = np.concatenate([iterator[i][0][:, 0, 0, 0] for i in range(len(iterator))])
    expected = np.round(first_pixels * 3).astype(int)
    probabilities, predicted = predict_labels(model, iterator)
    assert probabilities.shape == (24, 4)
    np.testing.assert_array_equal(predicted, expected)

    summary = evaluate_model(model, iterator, FER4_CLASSES)
    assert summary["num_test"] == 24
    assert summary["accuracy"] == pytest.approx(np.mean(expected == labels))
    assert summary["confusion_matrix"] == confusion_matrix(labels, expected, labels=range(4)).tolist()
    # explicit labels replace the iterator's
    relabelled = evaluate_model(model, iterator, FER4_CLASSES, labels=expected)
    assert relabelled["accuracy"] == 1.0
    images = np.stack([np.full((2, 2, 1), v, dtype=np.float32) for v in (0.0, 1.0)])
    arrays = evaluate_model(FixedModel(2), images, ["a", "b"], labels=[0, 0])
    assert arrays["confusion_matrix"] == [[1, 1], [0, 0]]
    assert isinstance(report_frame(arrays["report"]), pd.DataFrame)


# ---------------------------------------------------------------- uncertainty and read-outs (issue 13)


def test_bootstrap_intervals_known_answers() -> None:
    from fer_keras.evaluation import binomial_margin, bootstrap_intervals

    perfect = bootstrap_intervals([0, 1, 2, 3] * 25, [0, 1, 2, 3] * 25, 4, n_resamples=200)
    assert perfect["accuracy"] == [1.0, 1.0] and perfect["macro_f1"] == [1.0, 1.0]
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, 2000)
    y_pred = np.where(rng.random(2000) < 0.7, y_true, (y_true + 1) % 4)  # 70 % right
    ci = bootstrap_intervals(y_true, y_pred, 4, n_resamples=500, seed=1)
    accuracy = float((y_true == y_pred).mean())
    low, high = ci["accuracy"]
    assert low < accuracy < high
    # The percentile interval of a mean agrees with the binomial normal approximation at this size.
    assert (high - low) / 2 == pytest.approx(binomial_margin(accuracy, 2000), rel=0.15)
    f1_low, f1_high = ci["macro_f1"]
    macro = f1_score(y_true, y_pred, average="macro")
    assert f1_low < macro < f1_high
    small = bootstrap_intervals(y_true[:128], y_pred[:128], 4, n_resamples=500, seed=1)
    assert small["accuracy"][1] - small["accuracy"][0] > high - low  # fewer images, wider interval
    assert bootstrap_intervals(y_true, y_pred, 4, n_resamples=50, seed=7) == bootstrap_intervals(
        y_true, y_pred, 4, n_resamples=50, seed=7
    )


def test_original_card_reference_margin_is_about_8_points() -> None:
    from fer_keras.evaluation import binomial_margin
    from fer_keras.profiles import EXPERIMENTS

    assert round(binomial_margin(0.73, 128) * 100) == 8
    reference = EXPERIMENTS["fer4"].reference_summary()
    assert reference["num_test"] == 128 and reference["margin_95"] == pytest.approx(0.0769, abs=1e-3)


def test_overfitting_readout_distinguishes_underfit_overfit_and_still_learning() -> None:
    """Finding 7: the read-out says overfitting only when the numbers show it."""
    from fer_keras.evaluation import overfitting_readout

    underfit = {"loss": [1.40, 1.38], "val_loss": [1.39, 1.39], "accuracy": [0.30, 0.31], "val_accuracy": [0.24, 0.25]}
    reading = overfitting_readout(underfit, best_epoch=2, monitor="val_macro_f1", num_classes=4)
    assert reading["verdict"] == "underfitting" and "sign of overfitting" not in reading["text"]
    assert "the model is underfitting" in reading["text"]
    overfit = {
        "loss": [1.2, 0.8, 0.4, 0.2],
        "val_loss": [1.1, 0.9, 1.0, 1.2],
        "accuracy": [0.5, 0.7, 0.85, 0.95],
        "val_accuracy": [0.55, 0.66, 0.64, 0.62],
    }
    reading = overfitting_readout(overfit, best_epoch=2, monitor="val_loss", num_classes=4)
    assert reading["verdict"] == "overfitting" and reading["accuracy_gap"] == pytest.approx(0.04)
    assert reading["final_accuracy_gap"] == pytest.approx(0.33) and "overfits beyond epoch 2" in reading["text"]
    reading = overfitting_readout(overfit, best_epoch=4, monitor="val_accuracy", num_classes=4)
    assert reading["verdict"] == "gap, still improving" and "still improving" in reading["text"]
    learning = {"loss": [1.0, 0.8], "val_loss": [0.9, 0.7], "accuracy": [0.6, 0.7], "val_accuracy": [0.62, 0.71]}
    assert overfitting_readout(learning, 2, "val_loss", 4)["verdict"] == "still improving"
    settled = {"loss": [1.0, 0.8, 0.7], "val_loss": [0.9, 0.7, 0.75], "accuracy": [0.6, 0.7, 0.705]}
    settled["val_accuracy"] = [0.62, 0.71, 0.7]
    assert overfitting_readout(settled, 2, "val_loss", 4)["verdict"] == "no overfitting measured"


def test_confusion_readout_names_the_top_pair_of_the_matrix() -> None:
    from fer_keras.evaluation import confusion_readout

    names = ["happy", "sad", "neutral", "surprise"]
    cm = [[10, 0, 1, 0], [0, 5, 2, 0], [0, 6, 7, 0], [0, 0, 3, 9]]
    reading = confusion_readout(cm, names)
    assert reading["pairs"][0] == {"true": "neutral", "predicted": "sad", "count": 6, "share_of_true": 6 / 13}
    assert reading["text"].startswith("The most frequent confusion is neutral predicted as sad: 6 test images")
    assert confusion_readout(np.eye(4, dtype=int) * 5, names)["text"].startswith("No test image was misclassified")


def test_flip_tta_averages_each_image_with_its_mirror() -> None:
    from fer_keras.data.fast import ArrayDataset
    from fer_keras.evaluation import evaluate_model

    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (40, 12, 12), dtype=np.uint8), rng.integers(0, 4, 40)
    feed = ArrayDataset(images, labels, FER4_CLASSES, batch_size=16)  # 3 batches, the last one short
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [keras.Input((12, 12, 1)), keras.layers.Conv2D(4, 3), keras.layers.Flatten(), keras.layers.Dense(4, "softmax")]
    )
    x = images[..., None].astype("float32") / 255
    plain, mirrored = model.predict(x, verbose=0), model.predict(x[:, :, ::-1], verbose=0)
    assert np.abs(plain - mirrored).max() > 1e-3  # the model is not mirror-symmetric: the flip matters
    expected = (((plain + mirrored) / 2).argmax(axis=1) == labels).mean()
    summary = evaluate_model(model, feed, FER4_CLASSES, n_resamples=0, flip_tta=True)
    assert summary["accuracy"] == pytest.approx((plain.argmax(axis=1) == labels).mean())
    assert summary["flip_tta"]["accuracy"] == pytest.approx(expected)
    assert set(summary["flip_tta"]) == {"accuracy", "macro_f1", "weighted_f1"}
    assert "flip_tta" not in evaluate_model(model, feed, FER4_CLASSES, n_resamples=0)


def test_mirrored_prediction_reuses_the_graph_traced_for_the_feed() -> None:
    """A second trace per evaluation made TensorFlow warn of excessive retracing in every experiment's output."""
    from fer_keras.data.fast import ArrayDataset
    from fer_keras.evaluation import predict_labels, predict_mirrored

    images, labels = np.zeros((40, 12, 12), np.uint8), np.arange(40) % 4
    feed = ArrayDataset(images, labels, FER4_CLASSES, batch_size=16)  # the last batch short: two batch shapes
    model = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Flatten(), keras.layers.Dense(4, "softmax")])
    traces, predict_step = [], model.predict_step

    def counted(data):  # runs in Python only while a graph is traced
        traces.append(1)
        return predict_step(data)

    model.predict_step = counted
    predict_labels(model, feed)
    assert traces, "predict_step never ran: the count below would prove nothing"
    traced = len(traces)
    assert predict_mirrored(model, feed).shape == (40, 4)
    assert len(traces) == traced
