"""Benchmark the FER input pipelines: data-only throughput and end-to-end training, in one run.

Feeds (FER-2013 train, IDG augmentation rotation 10, shifts 0.1, zoom 0.1, horizontal flip):

* ``idg``: plain ``ImageDataGenerator.flow_from_dataframe`` (workers=1, then 2 threads / 2 processes);
* ``fast-cpu``: decoded uint8 array + one batched NumPy warp per batch (workers=1, 2);
* ``fast-noaug``: the same without augmentation (upper bound of the array feed);
* ``random-affine``: the ``RandomAffine`` layer alone on device batches (``augment_on="model"``);
* training of the FER-7 CNN for a fixed number of steps with each feed, with the layer in the
  model, and on a fixed in-memory batch (the compute-only bound), optionally in mixed precision.

Usage::

    python benchmarks/pipeline.py [--data DIR] [--classes fer7] [--batch-size 128] [--batches 50]
                                  [--train-steps 30] [--skip-train] [--out FILE]
    KERAS_BACKEND=jax python benchmarks/pipeline.py      # on an accelerator
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from fer_keras.constants import FER4_CLASSES, FER7_CLASSES
from fer_keras.data.fast import ArrayDataset, augmentation_layer, build_fast_iterators, decode_images
from fer_keras.data.fer import DEFAULT_AUGMENTATION, flow_frame, list_class_images
from fer_keras.data.paths import fer_split_dir, resolve_data_root
from fer_keras.io import atomic_write_json, atomic_write_text
from fer_keras.models import build_fer_cnn
from fer_keras.precision import bf16_is_native
from fer_keras.runinfo import collect_run_info, has_accelerator

AUGMENT = DEFAULT_AUGMENTATION  # the experiments' augmentation: rotation 10, shifts 0.1, zoom 0.1, flip
CLASS_SETS = {"fer7": FER7_CLASSES, "fer4": FER4_CLASSES}
WARMUP_BATCHES = 3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="folder holding fer2013/ (default: $FER_KERAS_DATA, ./data)")
    parser.add_argument("--classes", choices=sorted(CLASS_SETS), default="fer7")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--batches", type=int, default=50, help="batches per data-only measurement")
    parser.add_argument(
        "--train-steps", type=int, default=None, help="timed training steps per feed (default: 30, 5 on CPU)"
    )
    parser.add_argument("--skip-train", action="store_true", help="data-only measurements")
    parser.add_argument(
        "--mixed-precision",
        choices=("auto", "on", "off"),
        default="auto",
        help="also train in mixed_bfloat16 (auto: where bf16 is native: accelerators, CPUs with avx512_bf16/amx_bf16)",
    )
    parser.add_argument("--cache-dir", default=None, help="decode cache folder (default: a temporary one)")
    parser.add_argument("--out", default=None, help="JSON output (default benchmarks/results/<device>.json)")
    return parser.parse_args(argv)


def device_slug(info: dict[str, Any]) -> str:
    """File-name-safe ``<device>-<backend>``, e.g. ``cpu-2-cores-x86-64-tensorflow``."""
    return re.sub(r"[^a-z0-9]+", "-", f"{info['device']}-{info['backend']}".lower()).strip("-")


def train_frame(data: str | None, classes: tuple[str, ...]):
    """All FER-2013 train images of ``classes`` as a (filename, class) DataFrame."""
    return list_class_images(fer_split_dir(resolve_data_root(data), "train"), classes)


def idg_feed(frame, classes, batch_size: int, workers: int, use_multiprocessing: bool, seed: int = 0):
    """The plain feed: the package's ``ImageDataGenerator.flow_from_dataframe`` loader with augmentation."""
    return flow_frame(
        frame,
        classes,
        augmentation=AUGMENT,
        batch_size=batch_size,
        shuffle=True,
        seed=seed,
        workers=workers,
        use_multiprocessing=use_multiprocessing,
    )


def iterate(dataset: keras.utils.PyDataset) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Batches of ``dataset`` the way ``fit`` gets them (Keras' PyDataset adapter, with its workers)."""
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    adapter = PyDatasetAdapter(dataset, shuffle=False)
    adapter.on_epoch_begin()
    try:
        yield from adapter.get_numpy_iterator()
    finally:
        adapter.on_epoch_end()


def images_per_second(dataset: keras.utils.PyDataset, batches: int) -> float:
    """Data-only throughput over ``batches`` batches after ``WARMUP_BATCHES`` untimed ones."""
    seen, start = 0, None
    for i, (x, _) in enumerate(iterate(dataset)):
        if i == WARMUP_BATCHES:
            start = time.perf_counter()
        if i >= WARMUP_BATCHES:
            seen += len(x)
        if i + 1 >= batches + WARMUP_BATCHES:
            break
    return seen / (time.perf_counter() - start)


class FixedBatches(keras.utils.PyDataset):
    """The same in-memory batch over and over: the compute-only bound of training."""

    def __init__(self, batch: tuple[np.ndarray, np.ndarray], length: int) -> None:
        super().__init__()
        self.batch, self.length = batch, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.batch


class StepTimer(keras.callbacks.Callback):
    """Wall time from the end of batch ``warmup - 1`` to the end of the last batch."""

    def __init__(self, warmup: int) -> None:
        super().__init__()
        self.warmup, self.start, self.end, self.steps = warmup, None, None, 0

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        now = time.perf_counter()
        if batch == self.warmup - 1:
            self.start = now
        elif batch >= self.warmup:
            self.end, self.steps = now, self.steps + 1


def random_affine_rate(batch_size: int, batches: int, seed: int) -> float:
    """Throughput of the ``RandomAffine`` layer alone, compiled (``predict_on_batch``) on device."""
    inputs = keras.Input((48, 48, 1))
    model = keras.Model(inputs, augmentation_layer(AUGMENT, seed)(inputs, training=True))
    x = np.random.default_rng(seed).random((batch_size, 48, 48, 1), dtype=np.float32)
    for _ in range(WARMUP_BATCHES):
        model.predict_on_batch(x)
    start = time.perf_counter()
    for _ in range(batches):
        out = model.predict_on_batch(x)
    np.asarray(out)
    return batches * batch_size / (time.perf_counter() - start)


def train_rate(model_fn: Callable[[], keras.Model], feed: keras.utils.PyDataset, steps: int, batch_size: int) -> float:
    """Images/s of ``fit`` over ``steps`` timed steps (after ``WARMUP_BATCHES`` untimed ones)."""
    model = model_fn()
    timer = StepTimer(WARMUP_BATCHES)
    model.fit(feed, steps_per_epoch=steps + WARMUP_BATCHES, epochs=1, verbose=0, callbacks=[timer])
    return timer.steps * batch_size / (timer.end - timer.start)


def compiled_cnn(num_classes: int, augment_layer: bool = False, seed: int = 0) -> keras.Model:
    """The FER CNN (optionally behind ``RandomAffine``), compiled with Adam + cross-entropy."""
    augmentation = augmentation_layer(AUGMENT, seed) if augment_layer else None
    model = build_fer_cnn(num_classes, input_shape=(48, 48, 1), augmentation=augmentation)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def data_rows(frame, classes, fast, args) -> list[dict[str, Any]]:
    """Data-only throughput of every feed."""
    bs, n = args.batch_size, args.batches
    specs = [
        ("idg, workers=1", lambda: idg_feed(frame, classes, bs, 1, False)),
        ("idg, workers=2 threads", lambda: idg_feed(frame, classes, bs, 2, False)),
        ("idg, workers=2 processes", lambda: idg_feed(frame, classes, bs, 2, True)),
        ("fast-cpu warp, workers=1", lambda: fast.with_feed(augment=AUGMENT, workers=1)),
        ("fast-cpu warp, workers=2 threads", lambda: fast.with_feed(augment=AUGMENT, workers=2)),
        ("fast-cpu warp, workers=2 processes", lambda: fast.with_feed(augment=AUGMENT, workers=2, mp=True)),
        ("fast no-aug, workers=1", lambda: fast.with_feed(augment=None, workers=1)),
    ]
    rows = []
    for name, make in specs:
        rate = images_per_second(make(), n)
        rows.append({"kind": "data", "feed": name, "images_per_s": rate})
        print(f"  {name:<40} {rate:10.0f} img/s", flush=True)
    rate = random_affine_rate(bs, n, seed=0)
    rows.append({"kind": "data", "feed": "RandomAffine layer alone (device)", "images_per_s": rate})
    print(f"  {'RandomAffine layer alone (device)':<40} {rate:10.0f} img/s", flush=True)
    name = "fast no-aug feed + RandomAffine (augment_on=model)"
    rate = feed_then_layer_rate(fast.with_feed(augment=None, workers=1), n, seed=0)
    rows.append({"kind": "data", "feed": name, "images_per_s": rate})
    print(f"  {name:<40} {rate:10.0f} img/s", flush=True)
    return rows


def feed_then_layer_rate(dataset: keras.utils.PyDataset, batches: int, seed: int) -> float:
    """Images/s of the un-augmented array feed followed by the compiled ``RandomAffine`` layer per batch."""
    inputs = keras.Input((48, 48, 1))
    layer_model = keras.Model(inputs, augmentation_layer(AUGMENT, seed)(inputs, training=True))
    seen, start = 0, None
    for i, (x, _) in enumerate(iterate(dataset)):
        if i == WARMUP_BATCHES:
            start = time.perf_counter()
        out = np.asarray(layer_model.predict_on_batch(x))
        if i >= WARMUP_BATCHES:
            seen += len(out)
        if i + 1 >= batches + WARMUP_BATCHES:
            break
    return seen / (time.perf_counter() - start)


def train_rows(frame, classes, fast, args, steps: int, precision: str) -> list[dict[str, Any]]:
    """End-to-end training throughput of the CNN with each feed, in ``precision``."""
    keras.mixed_precision.set_global_policy(precision)
    bs, k = args.batch_size, len(classes)
    x, y = fast.with_feed(augment=None, workers=1)[0]
    specs = [
        ("synthetic fixed batch (compute bound)", lambda: compiled_cnn(k), FixedBatches((x, y), steps + 10)),
        ("idg, workers=1", lambda: compiled_cnn(k), idg_feed(frame, classes, bs, 1, False)),
        ("idg, workers=2 threads", lambda: compiled_cnn(k), idg_feed(frame, classes, bs, 2, False)),
        ("fast-cpu warp, workers=1", lambda: compiled_cnn(k), fast.with_feed(augment=AUGMENT, workers=1)),
        ("fast-cpu warp, workers=2", lambda: compiled_cnn(k), fast.with_feed(augment=AUGMENT, workers=2)),
        (
            "fast + RandomAffine in model",
            lambda: compiled_cnn(k, True),
            fast.with_feed(augment=None, workers=2),
        ),
    ]
    rows = []
    for name, model_fn, feed in specs:
        rate = train_rate(model_fn, feed, steps, bs)
        rows.append({"kind": f"train {precision}", "feed": name, "images_per_s": rate, "steps": steps})
        print(f"  train {precision:<15} {name:<40} {rate:8.1f} img/s", flush=True)
    keras.mixed_precision.set_global_policy("float32")
    return rows


class FastFeeds:
    """The decoded train array, turned into ``ArrayDataset`` feeds on demand."""

    def __init__(self, frame, classes, batch_size: int, cache_dir: str) -> None:
        self.frame, self.classes, self.batch_size = frame, classes, batch_size
        start = time.perf_counter()
        self.base = build_fast_iterators(
            {"train": frame}, classes, batch_size=batch_size, augment=None, seed=0, cache_dir=cache_dir
        )["train"]
        self.decode_s = time.perf_counter() - start
        start = time.perf_counter()
        decode_images(frame["filename"].tolist(), cache_dir=cache_dir)
        self.cache_s = time.perf_counter() - start

    def with_feed(self, augment, workers: int, mp: bool = False) -> ArrayDataset:
        """A shuffled train feed over the decoded array."""
        return ArrayDataset(
            self.base.images,
            self.base.classes,
            self.classes,
            batch_size=self.batch_size,
            shuffle=True,
            augment=augment,
            seed=0,
            workers=workers,
            use_multiprocessing=mp,
        )


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """Ratio of each row to plain IDG (workers=1) of its kind and to the fp32 compute bound."""
    idg = {r["kind"]: r["images_per_s"] for r in rows if r["feed"] == "idg, workers=1"}
    bound = {r["kind"]: r["images_per_s"] for r in rows if r["feed"].startswith("synthetic")}
    fp32_bound = bound.get("train float32")
    for row in rows:
        base = idg.get(row["kind"])
        row["vs_idg"] = row["images_per_s"] / base if base else None
        ref = bound.get(row["kind"], fp32_bound)
        row["vs_compute_bound"] = row["images_per_s"] / ref if ref and row["kind"] != "setup" else None


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""

    def ratio(value: float | None) -> str:
        return "" if value is None else f"{value:.2f}x"

    lines = [
        "| kind | feed | images/s | vs plain IDG | vs compute bound |",
        "|---|---|---:|---:|---:|",
    ]
    for r in rows:
        rate = f"{r['images_per_s']:.0f}" if r["images_per_s"] >= 100 else f"{r['images_per_s']:.1f}"
        lines.append(f"| {r['kind']} | {r['feed']} | {rate} | {ratio(r['vs_idg'])} | {ratio(r['vs_compute_bound'])} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> Path:
    """Run every measurement, print the table, write JSON + Markdown; return the JSON path."""
    args = parse_args(argv)
    info = collect_run_info()
    accelerator = has_accelerator()
    steps = args.train_steps or (30 if accelerator else 5)
    classes = CLASS_SETS[args.classes]
    print(f"Device: {info['device']}, backend {info['backend']}, batch {args.batch_size}", flush=True)
    frame = train_frame(args.data, classes)
    with tempfile.TemporaryDirectory() as tmp:
        fast = FastFeeds(frame, classes, args.batch_size, args.cache_dir or tmp)
        rows = [
            {
                "kind": "setup",
                "feed": "decode_images (first run, all files)",
                "images_per_s": len(frame) / fast.decode_s,
            },
            {"kind": "setup", "feed": "decode_images (cache hit)", "images_per_s": len(frame) / fast.cache_s},
        ]
        print(
            f"Decoded {len(frame)} images in {fast.decode_s:.1f} s, cache hit in {fast.cache_s:.2f} s",
            flush=True,
        )
        rows += data_rows(frame, classes, fast, args)
        if not args.skip_train:
            rows += train_rows(frame, classes, fast, args, steps, "float32")
            if args.mixed_precision == "on" or (args.mixed_precision == "auto" and bf16_is_native()):
                rows += train_rows(frame, classes, fast, args, steps, "mixed_bfloat16")
    add_ratios(rows)
    table = markdown_table(rows)
    print("\n" + table)
    out = Path(args.out or Path(__file__).resolve().parent / "results" / f"{device_slug(info)}.json")
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])])
    meta = {
        "command": command,
        "args": vars(args),
        "train_steps": steps,
        "augment": AUGMENT,
        "images": len(frame),
    }
    atomic_write_json(out, {"run": info | meta, "rows": rows})
    atomic_write_text(out.with_suffix(".md"), f"{info['device']}, {info['backend']}, {info['date']}\n\n{table}")
    print(f"Wrote {out} and {out.with_suffix('.md')}")
    return out


if __name__ == "__main__":
    main()
