"""Where a classifier fails: its most confident mistakes and its most confused class pairs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix

from fer_keras.analysis.calibration import check_scores
from fer_keras.evaluation import top_confusions

__all__ = ["confident_mistakes", "confused_pairs"]


def confident_mistakes(
    probabilities: np.ndarray | Sequence, y_true: np.ndarray | Sequence, k: int = 12
) -> pd.DataFrame:
    """The ``k`` wrong predictions with the highest confidence, most confident first.

    Columns: ``index`` (row in the inputs), ``true``, ``predicted`` (integer labels) and
    ``confidence`` (the predicted class's probability). Ties keep input order. Fewer than
    ``k`` rows when there are fewer mistakes; none when every prediction is right.
    """
    probabilities = check_scores(probabilities, y_true)
    y_true = np.asarray(y_true, dtype=int)
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    wrong = np.flatnonzero(predicted != y_true)
    order = wrong[np.argsort(-confidence[wrong], kind="stable")][: max(0, k)]
    return pd.DataFrame(
        {
            "index": order.astype(int),
            "true": y_true[order],
            "predicted": predicted[order],
            "confidence": confidence[order],
        }
    )


def confused_pairs(
    y_true: np.ndarray | Sequence, y_pred: np.ndarray | Sequence, class_names: Sequence[str], k: int = 3
) -> pd.DataFrame:
    """The ``k`` most frequent (true, predicted) confusions with count and share of the true class.

    Builds the confusion matrix and reads it with :func:`fer_keras.evaluation.top_confusions`.
    """
    cm = confusion_matrix(np.asarray(y_true), np.asarray(y_pred), labels=list(range(len(class_names))))
    return top_confusions(cm, list(class_names), k)
