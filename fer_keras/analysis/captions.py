"""One-line captions derived from the analyses' numbers; each wording holds for any outcome."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

__all__ = [
    "calibration_caption",
    "format_probability",
    "confusions_caption",
    "embedding_caption",
    "mistakes_caption",
    "occlusion_caption",
]

_MIN_DROP = 0.01  # below this largest probability drop, occlusion "barely changes" the prediction


def format_probability(p: float) -> str:
    """Two decimals, or three near 1 so that 0.999 does not read as a certain 1.00."""
    return f"{p:.2f}" if p < 0.995 else f"{p:.3f}"


def _worst_bin(bins: pd.DataFrame) -> pd.Series | None:
    """The bin contributing most to the ECE (count x |gap|), or None when every bin is calibrated."""
    filled = bins[bins["count"] > 0]
    weight = filled["count"] * filled["gap"].abs()
    if filled.empty or weight.max() == 0:
        return None
    return filled.loc[weight.idxmax()]


def calibration_caption(
    bins: pd.DataFrame, ece: float, *, ece_after: float | None = None, temperature: float | None = None
) -> str:
    """E.g. "ECE 0.084 (0.031 after temperature scaling, T=1.42); the 0.93–1.00 bin is the most over-confident: ..."."""
    text = f"ECE {ece:.3f}"
    if ece_after is not None and temperature is not None:
        text += f" ({ece_after:.3f} after temperature scaling fitted on validation, T={temperature:.2f})"
    worst = _worst_bin(bins)
    if worst is None:
        return text + f"; confidence matches accuracy in every filled bin ({int(bins['count'].sum())} images)"
    side = "over-confident" if worst["gap"] > 0 else "under-confident"
    confidence, accuracy = format_probability(worst["confidence"]), f"{worst['accuracy']:.2f}"
    return (
        text + f"; the {worst['lower']:.2f}–{worst['upper']:.2f} confidence bin weighs most and is {side}: "
        f"mean confidence {confidence}, accuracy {accuracy} ({int(worst['count'])} images)"
    )


def mistakes_caption(mistakes: pd.DataFrame, class_names: Sequence[str], num_wrong: int, num_total: int) -> str:
    """E.g. "Most confident mistake: sad predicted as neutral at 0.97 (41 of 128 test images wrong)"."""
    if mistakes.empty:
        return f"No mistakes: all {num_total} test images are classified correctly."
    top = mistakes.iloc[0]
    return (
        f"Most confident mistake: {class_names[int(top['true'])]} predicted as "
        f"{class_names[int(top['predicted'])]} at {format_probability(top['confidence'])} "
        f"({num_wrong} of {num_total} test images wrong)"
    )


def confusions_caption(confusions: pd.DataFrame) -> str:
    """E.g. "Most confused pair: sad predicted as neutral, 14 times (23% of sad)"."""
    if confusions.empty:
        return "No confused pairs: every test image is classified correctly."
    top = confusions.iloc[0]
    count = int(top["count"])
    return (
        f"Most confused pair: {top['true']} predicted as {top['predicted']}, {count} time{'s' if count != 1 else ''} "
        f"({top['share_of_true']:.0%} of {top['true']})"
    )


def occlusion_caption(summary: Mapping, patch: int) -> str:
    """E.g. "Occlusion over 16 test images: 64% of the importance lies in the upper half ... the top-centre ninth"."""
    images = f"{summary['images']} test image{'s' if summary['images'] != 1 else ''}"
    if summary["upper_share"] is None or summary["max_drop"] < _MIN_DROP:
        return (
            f"Occlusion over {images}: hiding any {patch}x{patch} patch barely changes the predicted class's "
            f"probability (largest drop {summary['max_drop']:.3f})"
        )
    upper = summary["upper_share"]
    half, share = ("upper", upper) if upper >= 0.5 else ("lower", 1.0 - upper)
    return (
        f"Occlusion over {images}: {share:.0%} of the importance (probability drop of the predicted class) lies in "
        f"the {half} half; the most important ninth of the image is the {summary['region']}"
    )


def embedding_caption(method: str, width: int, agreement: Mapping, class_names: Sequence[str]) -> str:
    """E.g. "t-SNE of 768-d penultimate features, 128 test images: 10-NN class agreement 0.62 (chance 0.27); ..."."""
    per_class = {class_names[c]: v for c, v in agreement["per_class"].items()}
    n = agreement.get("n")
    text = (
        f"{'t-SNE' if method == 'tsne' else 'PCA'} of {width}-d penultimate features"
        + (f", {n} test images" if n is not None else "")
        + f": {agreement['k']}-NN class agreement {agreement['overall']:.2f} (chance {agreement['chance']:.2f})"
    )
    if len(per_class) < 2:
        return text
    best, worst = max(per_class, key=per_class.get), min(per_class, key=per_class.get)
    return text + f"; best separated {best} ({per_class[best]:.2f}), least {worst} ({per_class[worst]:.2f})"
