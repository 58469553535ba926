"""Evaluate a classifier: predictions, accuracy, scikit-learn report, confusion matrix, overfitting read-out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

from fer_keras.data.fast import loading_options


def predict_labels(model: keras.Model, data: Any, verbose: str | int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities and predicted labels of ``model`` on an unshuffled iterator or array."""
    probabilities = np.asarray(model.predict(data, verbose=verbose))
    return probabilities, probabilities.argmax(axis=1)


def true_labels(data: Any) -> np.ndarray:
    """Integer labels of an unshuffled iterator, in prediction order (``.classes`` or ``.y``)."""
    for attribute in ("classes", "y"):
        labels = getattr(data, attribute, None)
        if labels is not None:
            return np.asarray(labels).astype(int)
    raise TypeError(f"{type(data).__name__} exposes neither .classes nor .y; pass the labels explicitly")


def classification_summary(
    y_true: Sequence[int],
    y_pred: Sequence[int],
    class_names: Sequence[str],
    scored_labels: Sequence[int] | None = None,
) -> dict:
    """Accuracy, macro/weighted F1, the scikit-learn report (dict and text) and the confusion matrix.

    ``scored_labels`` (class indices, default all) limits the report and the F1 averages to those
    classes (scikit-learn's ``labels=``), e.g. to the classes present in a test folder; accuracy and
    the confusion matrix (all classes) still count every prediction.
    """
    all_labels = list(range(len(class_names)))
    labels = all_labels if scored_labels is None else [int(label) for label in scored_labels]
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    common = {"labels": labels, "target_names": [class_names[i] for i in labels], "zero_division": 0}
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)),
        "num_test": int(len(y_true)),
        "report": classification_report(y_true, y_pred, output_dict=True, **common),
        "report_text": classification_report(y_true, y_pred, digits=3, **common),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=all_labels).tolist(),
    }


def _accuracy_and_macro_f1(confusions: np.ndarray, scored: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and macro-F1 over the ``scored`` classes of a stack of confusion matrices ``(R, K, K)``.

    A class with no true or predicted image gets F1 0, as scikit-learn's ``zero_division=0``.
    """
    tp = np.diagonal(confusions, axis1=1, axis2=2).astype(float)
    support, predicted = confusions.sum(axis=2), confusions.sum(axis=1)
    denominator = support + predicted
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return tp.sum(axis=1) / confusions.sum(axis=(1, 2)), f1[:, list(scored)].mean(axis=1)


def bootstrap_intervals(
    y_true: Sequence[int],
    y_pred: Sequence[int],
    num_classes: int,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    scored_labels: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Percentile bootstrap intervals of accuracy and macro-F1, resampling test images with replacement.

    Macro-F1 averages ``scored_labels`` (default: all ``num_classes``), as in :func:`classification_summary`.
    """
    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    n = len(y_true)
    if n == 0:
        raise ValueError("no test images to resample")
    rng = np.random.default_rng(seed)
    index = rng.integers(0, n, size=(n_resamples, n))
    cells = y_true[index] * num_classes + y_pred[index]  # (R, n) flat confusion-matrix cells
    offsets = np.arange(n_resamples)[:, None] * num_classes**2
    confusions = np.bincount((cells + offsets).ravel(), minlength=n_resamples * num_classes**2)
    scored = list(range(num_classes)) if scored_labels is None else list(scored_labels)
    accuracy, macro_f1 = _accuracy_and_macro_f1(confusions.reshape(n_resamples, num_classes, num_classes), scored)
    tail = (1.0 - confidence) / 2 * 100
    return {
        "confidence": confidence,
        "n_resamples": n_resamples,
        "seed": seed,
        "accuracy": [float(v) for v in np.percentile(accuracy, [tail, 100 - tail])],
        "macro_f1": [float(v) for v in np.percentile(macro_f1, [tail, 100 - tail])],
    }


def binomial_margin(accuracy: float, num_images: int, confidence_z: float = 1.96) -> float:
    """Half-width of the normal-approximation 95 % interval of an accuracy measured on ``num_images`` images."""
    return float(confidence_z * np.sqrt(accuracy * (1.0 - accuracy) / num_images))


def evaluate_model(
    model: keras.Model,
    data: Any,
    class_names: Sequence[str],
    labels: Sequence[int] | None = None,
    scored_labels: Sequence[int] | None = None,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    flip_tta: bool = False,
) -> dict:
    """Predict on ``data`` (unshuffled), summarise with :func:`classification_summary`, add bootstrap intervals.

    ``flip_tta`` adds ``flip_tta``: accuracy and F1 of the softmax averaged over each image and its
    horizontal mirror (test-time augmentation; reported beside the plain numbers, never used to select).
    ``labels`` are the true labels when ``data`` does not carry them; ``scored_labels`` as in
    :func:`classification_summary` (the bootstrap's macro-F1 averages the same classes).
    ``n_resamples=0`` skips the bootstrap.
    """
    y_true = true_labels(data) if labels is None else np.asarray(labels)
    probabilities, y_pred = predict_labels(model, data)
    summary = classification_summary(y_true, y_pred, class_names, scored_labels)
    if n_resamples:
        summary["bootstrap"] = bootstrap_intervals(
            y_true, y_pred, len(class_names), n_resamples=n_resamples, seed=seed, scored_labels=scored_labels
        )
    if flip_tta:
        averaged = (probabilities + predict_mirrored(model, data)) / 2
        tta = classification_summary(y_true, averaged.argmax(axis=1), class_names, scored_labels)
        summary["flip_tta"] = {key: tta[key] for key in ("accuracy", "macro_f1", "weighted_f1")}
    return summary


class MirroredFeed(keras.utils.PyDataset):
    """The batches of an indexable feed (``feed[i]`` -> ``(x, y, ...)``) with each image mirrored left-right,
    loaded as the feed is (same workers)."""

    def __init__(self, feed: Any) -> None:
        super().__init__(**loading_options(feed))
        self.feed = feed

    def __len__(self) -> int:
        return len(self.feed)

    def __getitem__(self, index: int) -> tuple:
        x, *rest = self.feed[index]
        return (np.flip(x, axis=2), *rest)


def predict_mirrored(model: keras.Model, data: Any) -> np.ndarray:
    """Class probabilities of ``model`` on the horizontally mirrored images of an unshuffled feed, in order.

    Batches keep the feed's structure, so ``predict`` reuses the graph it traced for the feed itself.
    """
    return np.asarray(model.predict(MirroredFeed(data), verbose=0))


def report_frame(report: Mapping[str, Any]) -> pd.DataFrame:
    """A scikit-learn ``output_dict`` report as a DataFrame (rows: classes, then averages)."""
    rows = {name: values for name, values in report.items() if isinstance(values, Mapping)}
    return pd.DataFrame(rows).T[["precision", "recall", "f1-score", "support"]]


def normalized_confusion(cm: Sequence[Sequence[int]]) -> np.ndarray:
    """Row-normalised confusion matrix (each true class sums to 1; empty rows stay 0)."""
    cm = np.asarray(cm, dtype=float)
    totals = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)


def top_confusions(cm: Sequence[Sequence[int]], class_names: Sequence[str], k: int = 3) -> pd.DataFrame:
    """The ``k`` most frequent off-diagonal (true, predicted) pairs with count and share of the true class."""
    counts, rates = np.asarray(cm), normalized_confusion(cm)
    pairs = [
        (class_names[i], class_names[j], int(counts[i, j]), float(rates[i, j]))
        for i in range(len(class_names))
        for j in range(len(class_names))
        if i != j and counts[i, j] > 0
    ]
    pairs.sort(key=lambda p: (p[2], p[3]), reverse=True)
    return pd.DataFrame(pairs[:k], columns=["true", "predicted", "count", "share_of_true"])


def confusion_readout(cm: Sequence[Sequence[int]], class_names: Sequence[str], k: int = 3) -> dict[str, Any]:
    """The ``k`` most confused (true, predicted) pairs and a sentence naming the first, true for any matrix."""
    top = top_confusions(cm, class_names, k=k)
    pairs = top.to_dict("records")
    if not pairs:
        text = "No test image was misclassified: the confusion matrix is diagonal."
    else:
        first = pairs[0]
        text = (
            f"The most frequent confusion is {first['true']} predicted as {first['predicted']}: "
            f"{first['count']} test images, {first['share_of_true']:.0%} of {first['true']}."
        )
        if len(pairs) > 1:
            rest = "; ".join(f"{p['true']} → {p['predicted']} ({p['count']})" for p in pairs[1:])
            text += f" Next: {rest}."
    return {
        "pairs": [{**p, "count": int(p["count"]), "share_of_true": float(p["share_of_true"])} for p in pairs],
        "text": text,
    }


def overfitting_readout(
    history: Mapping[str, Sequence[float]], best_epoch: int, monitor: str, num_classes: int
) -> dict[str, Any]:
    """Train-validation gaps at ``best_epoch`` and at the last epoch, and a reading that holds for any outcome.

    Verdicts: ``underfitting`` (training accuracy near chance), ``overfitting`` (the gap is over
    5 points at the best epoch, or widens by more than 2 points after it while ``monitor`` gets
    no better), ``gap, still improving`` / ``still improving`` (the best epoch is the last one),
    else ``no overfitting measured``.
    """
    epochs = len(history.get("loss", []))
    out: dict[str, Any] = {"epochs": epochs, "best_epoch": best_epoch, "monitor": monitor}
    out.update(gaps_at(history, max(1, min(best_epoch, epochs))))
    if "accuracy_gap" in out:
        out["final_accuracy_gap"] = gaps_at(history, epochs)["accuracy_gap"]
    gap, train_acc = out.get("accuracy_gap"), out.get("train_accuracy")
    chance = 1.0 / num_classes
    sentences = []
    if gap is not None:
        sentences.append(
            f"At the best epoch ({best_epoch} of {epochs}, by {monitor}) training accuracy is {train_acc:.1%} "
            f"and validation accuracy {out['val_accuracy']:.1%} (gap {gap * 100:+.1f} points)."
        )
    widened = gap is not None and out["final_accuracy_gap"] - gap > 0.02
    if train_acc is not None and train_acc < chance + 0.1 * (1 - chance):
        verdict = "underfitting"
        sentences.append(
            f"Training accuracy is close to chance ({chance:.0%} for {num_classes} classes): the model is "
            "underfitting; more epochs or data are needed before overfitting can be judged."
        )
    elif best_epoch < epochs and (widened or (gap is not None and gap > 0.05)):
        verdict = "overfitting"
        sentences.append(
            f"After epoch {best_epoch} {monitor} got no better while the train-validation gap reached "
            f"{out['final_accuracy_gap'] * 100:+.1f} points at epoch {epochs}: the model overfits beyond epoch "
            f"{best_epoch}, whose weights early stopping keeps."
        )
    elif best_epoch >= epochs and gap is not None and gap > 0.05:
        verdict = "gap, still improving"
        sentences.append(
            f"Training accuracy is above validation, but {monitor} was still improving at the last epoch: a "
            "generalisation gap without a validation decline yet; more epochs may help or start to overfit."
        )
    elif best_epoch >= epochs:
        verdict = "still improving"
        sentences.append(f"{monitor} was still improving at the last epoch: more epochs would likely help.")
    else:
        verdict = "no overfitting measured"
        sentences.append(
            f"{monitor} peaked at epoch {best_epoch} but the train-validation gap stayed within a few points: "
            "no overfitting measured."
        )
    out["verdict"], out["text"] = verdict, " ".join(sentences)
    return out


def gaps_at(history: Mapping[str, Sequence[float]], epoch: int) -> dict[str, float]:
    """Train/validation accuracy and loss at 1-based ``epoch`` and their gaps (positive: train fits better).

    Only the metrics logged for both splits appear.
    """
    out = {}
    for metric in ("accuracy", "loss"):
        if history.get(metric) and history.get(f"val_{metric}"):
            train, val = float(history[metric][epoch - 1]), float(history[f"val_{metric}"][epoch - 1])
            out[f"train_{metric}"], out[f"val_{metric}"] = train, val
            out[f"{metric}_gap"] = train - val if metric == "accuracy" else val - train
    return out


def overfitting_gap(history: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """Final train/validation accuracy and loss and their gaps: positive gaps mean the model fits train better."""
    epochs = len(history.get("loss", []))
    return {"epochs": epochs, **gaps_at(history, epochs)}
