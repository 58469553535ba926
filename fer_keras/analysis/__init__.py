"""Look inside a trained classifier: calibration, mistakes, occlusion maps, feature embedding, captions.

:func:`analyze_model` runs them all on test (and validation) arrays and saves the figures;
the pieces are usable on their own in notebooks.
"""

from fer_keras.analysis.arrays import collect_arrays, integer_labels, stratified_indices
from fer_keras.analysis.calibration import (
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
    to_logits,
)
from fer_keras.analysis.captions import (
    calibration_caption,
    confusions_caption,
    embedding_caption,
    format_probability,
    mistakes_caption,
    occlusion_caption,
)
from fer_keras.analysis.embedding import embed_2d, feature_model, neighbour_agreement, penultimate_features
from fer_keras.analysis.mistakes import confident_mistakes, confused_pairs
from fer_keras.analysis.occlusion import occlusion_map, occlusion_maps, occlusion_summary, pick_examples
from fer_keras.analysis.plots import (
    plot_embedding,
    plot_mistakes,
    plot_occlusion_grid,
    plot_reliability,
    save_palette_figure,
)
from fer_keras.analysis.report import FIGURE_KINDS, analyze_model, predict_probabilities

__all__ = [
    "FIGURE_KINDS",
    "analyze_model",
    "apply_temperature",
    "calibration_caption",
    "collect_arrays",
    "confident_mistakes",
    "confused_pairs",
    "confusions_caption",
    "embed_2d",
    "embedding_caption",
    "expected_calibration_error",
    "feature_model",
    "fit_temperature",
    "format_probability",
    "integer_labels",
    "mistakes_caption",
    "neighbour_agreement",
    "occlusion_caption",
    "occlusion_map",
    "occlusion_maps",
    "occlusion_summary",
    "penultimate_features",
    "pick_examples",
    "plot_embedding",
    "plot_mistakes",
    "plot_occlusion_grid",
    "plot_reliability",
    "predict_probabilities",
    "reliability_bins",
    "save_palette_figure",
    "stratified_indices",
    "to_logits",
]
