"""Experiments and their smoke / cpu / full profiles."""

from __future__ import annotations

import dataclasses

import pytest

from fer_keras.constants import CIFAR10_CLASSES, FASHION_CLASSES, FER4_CLASSES, FER7_CLASSES
from fer_keras.data.fer import DEFAULT_AUGMENTATION
from fer_keras.profiles import EXPERIMENTS, PROFILE_NAMES, PROFILES, Settings, get_settings


def test_every_experiment_has_smoke_cpu_and_full() -> None:
    assert PROFILE_NAMES == ("smoke", "cpu", "full")
    assert set(EXPERIMENTS) == {"fer4", "fer7", "fashion_mlp", "fashion_cnn", "cifar10"}
    assert set(PROFILES) == {(e, p) for e in EXPERIMENTS for p in PROFILE_NAMES}
    for name in EXPERIMENTS:
        smoke, cpu, full = (get_settings(name, p) for p in PROFILE_NAMES)
        assert (smoke.experiment, smoke.profile, cpu.profile, full.profile) == (name, "smoke", "cpu", "full")
        assert smoke.smoke is True and cpu.smoke is False and full.smoke is False  # smoke runs the subsets
        assert 0 < smoke.epochs < cpu.epochs <= full.epochs
        assert smoke.batch_size > 0 and cpu.batch_size > 0 and full.batch_size > 0
        assert smoke.seed == cpu.seed == full.seed == 1337
        assert cpu.validation_split == full.validation_split == 0.1


def test_experiment_definitions() -> None:
    assert EXPERIMENTS["fer4"].class_names == FER4_CLASSES
    assert EXPERIMENTS["fer7"].class_names == FER7_CLASSES
    assert EXPERIMENTS["fashion_mlp"].class_names == EXPERIMENTS["fashion_cnn"].class_names == FASHION_CLASSES
    assert {e.model for e in EXPERIMENTS.values()} == {"fer_cnn", "fashion_mlp", "fashion_cnn", "cifar_resnet"}
    assert EXPERIMENTS["cifar10"].class_names == CIFAR10_CLASSES
    assert EXPERIMENTS["fer4"].dataset_id == "fer2013" and EXPERIMENTS["fashion_cnn"].dataset_id == "fashion_mnist"
    for experiment in EXPERIMENTS.values():
        assert experiment.limitations and experiment.tradeoffs and experiment.title


def test_profile_values() -> None:
    fer4 = get_settings("fer4", "full")
    recipe = ("adam", 1e-3, "cosine", 0.1, 0.1, 0.3, 128)  # chosen on the validation split (benchmarks/README.md)
    for exp, profile in (("fer4", "cpu"), ("fer4", "full"), ("fer7", "cpu"), ("fer7", "full")):
        s = get_settings(exp, profile)
        assert (s.optimizer, s.learning_rate, s.schedule, s.label_smoothing) == recipe[:4]
        assert (s.conv_dropout, s.dense_dropout, s.batch_size) == recipe[4:]
        assert s.monitor == "val_macro_f1" and s.mixed_precision is True
    assert fer4.augmentation == DEFAULT_AUGMENTATION
    assert get_settings("fer4", "cpu").pipeline == "fast"  # training is compute-bound: the cheapest feed
    assert (get_settings("fer4", "cpu").epochs, get_settings("fer7", "cpu").epochs) == (30, 22)
    assert get_settings("fer7", "full").class_weight == get_settings("fer7", "cpu").class_weight == "sqrt"
    assert get_settings("fer7", "smoke").class_weight == "sqrt"
    assert get_settings("fer4", "smoke").class_weight is None
    assert (get_settings("fer4", "smoke").conv_dropout, get_settings("fer4", "smoke").dense_dropout) == (0.25, 0.5)
    mlp = get_settings("fashion_mlp", "smoke")
    assert mlp.max_trials == 3 and mlp.tuner_epochs == 2
    assert get_settings("fashion_mlp", "full").max_trials == 30
    assert get_settings("fashion_cnn", "smoke").augmentation is None
    assert get_settings("fer4").profile == "smoke"  # the default profile


def test_get_settings_overrides() -> None:
    settings = get_settings("fer4", "smoke", epochs=1, seed=5, pipeline="fast", workers=None)
    assert (settings.epochs, settings.seed, settings.pipeline) == (1, 5, "fast")
    assert settings.workers == 1  # None means "keep the profile's value"
    assert settings.batch_size == get_settings("fer4", "smoke").batch_size
    assert get_settings("fer4", "smoke").epochs == 2  # the profile itself is unchanged
    with pytest.raises(TypeError):
        get_settings("fer4", "smoke", not_a_setting=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.epochs = 2  # type: ignore[misc]


def test_get_settings_unknown_names() -> None:
    with pytest.raises(ValueError, match="Unknown experiment 'fer5'") as info:
        get_settings("fer5")
    assert "fer4, fer7, fashion_mlp, fashion_cnn" in str(info.value)
    with pytest.raises(ValueError, match="Unknown profile 'medium'") as info:
        get_settings("fer4", "medium")
    assert "smoke, cpu, full" in str(info.value)


def test_settings_as_dict() -> None:
    settings = get_settings("fer7", "smoke")
    data = settings.as_dict()
    assert isinstance(settings, Settings)
    assert data["experiment"] == "fer7" and data["class_weight"] == "sqrt" and data["epochs"] == 2
    assert set(data) == {f.name for f in dataclasses.fields(Settings)}
    assert Settings(**data) == settings
