"""Experiments and their ``smoke`` / ``full`` profiles: every setting a run uses, named in one place."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from fer_keras.constants import CIFAR10_CLASSES, FASHION_CLASSES, FER4_CLASSES, FER7_CLASSES
from fer_keras.data.cifar import CIFAR_AUGMENTATION
from fer_keras.data.fer import DEFAULT_AUGMENTATION

PROFILE_NAMES = ("smoke", "cpu", "full")
"""``smoke``: tiny, for tests and CI; ``cpu``: the published results, sized for a 2-core CPU;
``full``: longer, for accelerators."""
PUBLISHED_PROFILES = ("cpu", "full")
"""Profiles whose runs write the committed ``model_cards/``, ``figures/`` and ``metrics/``."""

FER_LIMITATIONS = [
    "Low resolution: 48x48 grayscale faces lose fine cues (eye wrinkles, mouth corners) that separate "
    "sad from neutral and fear from surprise.",
    "Blur, pose, occlusion and lighting vary widely; FER-2013 was scraped from web searches and "
    "some labels are noisy (human accuracy on it is about 65 %).",
    "Class imbalance: happy dominates the training data and disgust is 1.5 % of it; minority classes "
    "get lower recall (see the per-class table).",
    "Overfitting: a 7.8 M-parameter network on ~25k images; the train-validation gap in the curves "
    "shows how much, and dropout, BatchNorm, augmentation and early stopping hold it back.",
    "Evaluated on the PublicTest part of the FER-2013 test set only; posed, in-the-lab or other-culture "
    "faces may score differently. Not for decisions about people.",
]
FASHION_LIMITATIONS = [
    "28x28 grayscale, centred product images on a plain background: not photos of worn clothes.",
    "Shirt, T-shirt/top, pullover and coat share shapes at this resolution and are confused most.",
    "Overfitting shows as a train-validation gap in the curves; early stopping picks the best epoch.",
]

CIFAR_LIMITATIONS = [
    "Measured on a JPEG copy of CIFAR-10 (quality 75, the only copy reachable here): the numbers are not exactly "
    "comparable with published CIFAR-10 results, which use the lossless arrays.",
    "32x32 RGB thumbnails of ten object classes: photos of other objects, other sizes or crops are forced into "
    "one of the ten classes (there is no 'none of these').",
    "Cat and dog, and automobile and truck, share shapes at this resolution and are confused most.",
    "Trained from scratch on CIFAR-10 alone (no pre-trained weights): a pre-trained backbone (the original card's "
    "ViT-Base on ImageNet-21k) would be more accurate and more robust to other images.",
]
CIFAR_TEST_NOTE = "the official 10,000-image CIFAR-10 test set, as JPEG (quality 75)"
CIFAR_USES = {
    "intended": [
        "Teaching and research: training an image classifier from scratch on a CPU, and comparing recipes on a "
        "validation split.",
        "Classifying 32x32 (or downscaled) photos into the ten CIFAR-10 classes, e.g. with `predict --no-detect`.",
    ],
    "out_of_scope": [
        "Any decision about people or property; surveillance; safety-critical recognition.",
        "Images that show none of the ten classes, or several objects: the model always answers one of ten.",
    ],
}
CIFAR_COMPARISON = (
    "The CIFAR-10 model card this project grew from set the goal of at least 90 % accuracy, reached there by "
    "fine-tuning Google's ViT-Base (86 M parameters, pre-trained on ImageNet-21k) on a GPU. This model starts "
    "from random weights."
)

FER_TEST_NOTE = "test/ is the FER-2013 PublicTest part (the PrivateTest part is held back)"
FASHION_TEST_NOTE = "the official 10,000-image Fashion-MNIST test set"

TRADEOFFS = {
    "fer4": [
        "A 7-conv/2-dense CNN (7.8 M parameters) is small enough to train in minutes on a GPU, "
        "but most parameters sit in the first dense layer, which is where it overfits.",
        "Augmentation (rotation, shifts, zoom, flips) lowers the train-validation gap at the cost of "
        "slower convergence and more epochs.",
        "The ImageDataGenerator feed is simple and matches the original experiment; the fast path "
        "gives the same augmentation many times faster on accelerators.",
    ],
    "fer7": [
        "Class weights raise recall on rare classes (disgust, fear) at some cost in precision and in "
        "overall accuracy on the majority class.",
        "Seven classes include pairs that are hard even for people (sad/neutral, fear/surprise); "
        "accuracy is lower than for four classes.",
        "Augmentation and a larger model trade training time for less overfitting.",
    ],
    "fashion_mlp": [
        "The MLP ignores the spatial structure of images: cheap to train and tune (seconds per trial), "
        "but a few points less accurate than a small CNN.",
        "A random search with a fixed trial budget finds a good configuration, not the best one.",
    ],
    "cifar10": [
        "Width: the ResNet-9 at half width (1.65 M parameters) has a quarter of the full width's multiply-adds "
        "(6.58 M parameters) and trained about three times as fast on the 2-core CPU (benchmarks/README.md); in a "
        "fixed hour it gets three times the epochs.",
        "Epochs against time: a one-cycle schedule over a fixed budget of epochs reaches its accuracy only at "
        "the end of the schedule; stopping it early gives a worse model than a shorter schedule would.",
        "Random crops and mirroring are drawn on the CPU with one NumPy gather per batch: they cost little time, "
        "and the model sees a different version of each image every epoch.",
    ],
    "fashion_cnn": [
        "The CNN uses spatial structure and reaches higher accuracy than the MLP, at ~4x the parameters "
        "and several times the training time per epoch.",
    ],
}


@dataclass(frozen=True)
class Settings:
    """Everything one run of an experiment uses (what the card records under Training Details)."""

    experiment: str
    profile: str
    epochs: int
    batch_size: int
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    schedule: str = "plateau"  # "plateau" (ReduceLROnPlateau) or "cosine" (cosine decay)
    label_smoothing: float = 0.0
    augmentation: dict[str, Any] | None = None
    class_weight: str | None = None  # None, "balanced" or "sqrt" (square root of balanced)
    patience: int = 10
    monitor: str = "val_loss"  # what early stopping, the checkpoint and the LR schedule watch
    seed: int = 1337
    deterministic: bool = False  # the backend's deterministic ops (fer_keras.determinism), slower on GPUs
    smoke: bool = False
    validation_split: float = 0.1
    train_fraction: float = 1.0  # FER: a stratified share of the training split (quick comparisons only)
    pipeline: str = "auto"  # "auto": the fast path on accelerators, ImageDataGenerator on CPU
    conv_dropout: float = 0.25  # FER CNN: dropout after each convolution block
    dense_dropout: float = 0.5  # FER CNN: dropout after each hidden dense layer
    mixed_precision: bool = False  # bf16 where the hardware executes it natively (fer_keras.precision)
    workers: int = 1
    analysis: bool = True  # calibration, confident mistakes, occlusion maps, embedding (fer_keras.analysis)
    analysis_samples: int = 500  # test images in the 2-D embedding
    max_trials: int = 0  # keras-tuner trials (fashion_mlp)
    tuner_epochs: int = 0
    distribute: bool = False  # data-parallel over every visible device (fer_keras.distribute, JAX backend)
    weight_decay: float = 0.0  # Keras' decoupled weight decay of the optimizer (0: none)
    warmup_epochs: float = 0.0  # cosine schedule: linear warm-up from 0 over this many epochs first
    width: float = 1.0  # CIFAR ResNet: channel-width multiplier
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The settings as a plain dict (for JSON and cards)."""
        return asdict(self)


@dataclass(frozen=True)
class Reference:
    """A published result the experiment reproduces: accuracy on ``num_test`` test images."""

    accuracy: float
    num_test: int
    source: str


@dataclass(frozen=True)
class Experiment:
    """What an experiment is: data set, classes, model family and the card's prose."""

    name: str
    title: str
    dataset_id: str
    dataset_name: str
    class_names: tuple[str, ...]
    model: str
    limitations: list[str]
    tradeoffs: list[str]
    test_note: str = ""
    reference: Reference | None = None
    uses: dict[str, list[str]] | None = None  # intended and out-of-scope uses, for the card
    comparison: str = ""  # a line comparing with the model card the experiment grew from

    def reference_summary(self) -> dict[str, Any] | None:
        """The reference result with the 95 % margin its test-set size allows (normal approximation)."""
        if self.reference is None:
            return None
        from fer_keras.evaluation import binomial_margin

        ref = self.reference
        return {**asdict(ref), "margin_95": binomial_margin(ref.accuracy, ref.num_test)}


EXPERIMENTS: dict[str, Experiment] = {
    "fer4": Experiment(
        "fer4",
        "FER-2013, 4 classes (happy, sad, neutral, surprise)",
        "fer2013",
        "FER-2013",
        FER4_CLASSES,
        "fer_cnn",
        FER_LIMITATIONS,
        TRADEOFFS["fer4"],
        FER_TEST_NOTE,
        Reference(0.73, 128, "the original experiment's card (7-conv/2-dense CNN, 7,842,500 params)"),
    ),
    "fer7": Experiment(
        "fer7",
        "FER-2013, all 7 emotions",
        "fer2013",
        "FER-2013",
        FER7_CLASSES,
        "fer_cnn",
        FER_LIMITATIONS,
        TRADEOFFS["fer7"],
        FER_TEST_NOTE,
    ),
    "fashion_mlp": Experiment(
        "fashion_mlp",
        "Fashion-MNIST, tuned MLP",
        "fashion_mnist",
        "Fashion-MNIST",
        FASHION_CLASSES,
        "fashion_mlp",
        FASHION_LIMITATIONS,
        TRADEOFFS["fashion_mlp"],
        FASHION_TEST_NOTE,
    ),
    "fashion_cnn": Experiment(
        "fashion_cnn",
        "Fashion-MNIST, small CNN",
        "fashion_mnist",
        "Fashion-MNIST",
        FASHION_CLASSES,
        "fashion_cnn",
        FASHION_LIMITATIONS,
        TRADEOFFS["fashion_cnn"],
        FASHION_TEST_NOTE,
    ),
    "cifar10": Experiment(
        "cifar10",
        "CIFAR-10, ResNet-9 from scratch",
        "cifar10",
        "CIFAR-10 (JPEG copy)",
        CIFAR10_CLASSES,
        "cifar_resnet",
        CIFAR_LIMITATIONS,
        TRADEOFFS["cifar10"],
        CIFAR_TEST_NOTE,
        uses=CIFAR_USES,
        comparison=CIFAR_COMPARISON,
    ),
}

# FER runs are selected by validation macro-F1 (the card leads with it; fer7 trains with class weights).
_FER_SMOKE = {
    "epochs": 2,
    "batch_size": 32,
    "augmentation": DEFAULT_AUGMENTATION,
    "smoke": True,
    "patience": 3,
    "monitor": "val_macro_f1",
}
# The FER recipe of the cpu and full profiles, chosen on the validation split by benchmarks/recipes.py
# (benchmarks/README.md, "Choosing the recipe"): Adam 1e-3 with cosine decay over the run, label smoothing
# 0.1, dropout 0.1 after the conv blocks and 0.3 after the dense layers, batch 128. SGD 0.01-0.05 barely
# learnt in the same budget, and the builder's default dropout (0.25/0.5) underfits.
_FER_RECIPE = {
    "batch_size": 128,
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "schedule": "cosine",
    "label_smoothing": 0.1,
    "conv_dropout": 0.1,
    "dense_dropout": 0.3,
    "augmentation": DEFAULT_AUGMENTATION,
    "mixed_precision": True,
    "monitor": "val_macro_f1",
}
# Sized for a 2-core CPU with native bf16: the FER-7 run trained at ~100 images/s (250-270 s an epoch with
# validation) and took 103 min with evaluation and analyses; fer4 30 epochs of 18,163 images ~1.5 h.
_FER_CPU = {**_FER_RECIPE, "patience": 10, "pipeline": "fast"}
_FER_FULL = {**_FER_RECIPE, "epochs": 60, "patience": 20}
# CIFAR-10: a half-width ResNet-9 with SGD (Nesterov momentum 0.9), a cosine schedule after a linear warm-up
# (one cycle), label smoothing 0.2, decoupled weight decay and random crops + mirroring on the fast feed, chosen
# on the validation split (benchmarks/README.md, "Choosing the recipe: CIFAR-10").
_CIFAR_RECIPE = {
    "batch_size": 256,
    "optimizer": "sgd",
    "learning_rate": 0.2,
    "schedule": "cosine",
    "warmup_epochs": 4,
    "weight_decay": 5e-3,
    "label_smoothing": 0.2,
    "augmentation": CIFAR_AUGMENTATION,
    "width": 0.5,
    "mixed_precision": True,
    "pipeline": "fast",
    "patience": 100,  # a one-cycle schedule is run to its end; the checkpoint keeps the best epoch
    "monitor": "val_accuracy",
}
PROFILES: dict[tuple[str, str], dict[str, Any]] = {
    ("fer4", "smoke"): _FER_SMOKE,
    ("fer4", "cpu"): {**_FER_CPU, "epochs": 30},
    ("fer7", "cpu"): {**_FER_CPU, "epochs": 22, "class_weight": "sqrt"},
    ("fer4", "full"): _FER_FULL,
    ("fer7", "smoke"): {**_FER_SMOKE, "class_weight": "sqrt"},
    ("fer7", "full"): {**_FER_FULL, "class_weight": "sqrt"},
    ("fashion_mlp", "smoke"): {
        "epochs": 3,
        "batch_size": 128,
        "smoke": True,
        "max_trials": 3,
        "tuner_epochs": 2,
        "patience": 3,
        "monitor": "val_accuracy",
    },
    ("fashion_mlp", "full"): {
        "epochs": 60,
        "batch_size": 128,
        "max_trials": 30,
        "tuner_epochs": 15,
        "patience": 8,
        "monitor": "val_accuracy",
    },
    ("fashion_mlp", "cpu"): {
        "epochs": 40,
        "batch_size": 128,
        "max_trials": 20,
        "tuner_epochs": 8,
        "patience": 8,
        "monitor": "val_accuracy",
    },
    # No augmentation in the cpu budget: compared on the validation split (benchmarks/README.md, "Fashion-MNIST
    # CNN: augmentation in 15 epochs"), shifts + flips trailed by 2-5.5 points at every epoch and the plain feed
    # showed no train-validation gap to close (0.940 / 0.940 at epoch 15).
    ("fashion_cnn", "cpu"): {
        "epochs": 15,
        "batch_size": 128,
        "optimizer": "adam",
        "schedule": "cosine",
        "patience": 8,
        "mixed_precision": True,
        "monitor": "val_accuracy",
    },
    ("cifar10", "smoke"): {
        **_CIFAR_RECIPE,
        "epochs": 3,
        "batch_size": 64,
        "width": 0.25,
        "warmup_epochs": 1,
        "pipeline": "imagegenerator",
        "smoke": True,
        "analysis_samples": 200,
    },
    # ~180 s an epoch of 45,000 images on 2 cores in bf16 (~250 images/s with the crops): 20 epochs in ~60 min
    ("cifar10", "cpu"): {**_CIFAR_RECIPE, "epochs": 20},
    ("cifar10", "full"): {**_CIFAR_RECIPE, "epochs": 40, "warmup_epochs": 8, "width": 1.0},
    ("fashion_cnn", "smoke"): {"epochs": 4, "batch_size": 128, "smoke": True, "patience": 3, "monitor": "val_accuracy"},
    ("fashion_cnn", "full"): {
        "epochs": 40,
        "batch_size": 128,
        "optimizer": "adam",
        "schedule": "cosine",
        "augmentation": {"width_shift_range": 0.1, "height_shift_range": 0.1, "horizontal_flip": True},
        "patience": 15,
        "monitor": "val_accuracy",
    },
}


def get_settings(experiment: str, profile: str = "smoke", **overrides: Any) -> Settings:
    """The settings of ``experiment`` in ``profile``; keyword overrides (e.g. ``epochs=5``) replace fields.

    Raises ``ValueError`` for a warm-up that a run cannot have (not shorter than the run, or without the
    cosine schedule it belongs to), naming both settings.
    """
    if experiment not in EXPERIMENTS:
        raise ValueError(f"Unknown experiment {experiment!r}; choose one of {', '.join(EXPERIMENTS)}")
    if profile not in PROFILE_NAMES:
        raise ValueError(f"Unknown profile {profile!r}; choose one of {', '.join(PROFILE_NAMES)}")
    settings = Settings(experiment=experiment, profile=profile, **PROFILES[(experiment, profile)])
    settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    if settings.warmup_epochs and settings.schedule != "cosine":
        raise ValueError(
            f"warmup_epochs={settings.warmup_epochs:g} needs schedule='cosine' (got {settings.schedule!r}): "
            "set the schedule to cosine or the warm-up to 0."
        )
    if settings.warmup_epochs >= settings.epochs:
        raise ValueError(
            f"warmup_epochs={settings.warmup_epochs:g} leaves no decay in a run of epochs={settings.epochs}: "
            "train for more epochs or shorten the warm-up."
        )
    return settings
