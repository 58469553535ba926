# ruff: noqa: E501, E741, E731  (a text template: its lines are the README's)
"""Write benchmarks/README.md's section on faces (issue 24) from the result files: every number is read from
results/*.json and metrics/fer7.json, none typed. Run from the repository root after detect.py, align.py,
`fer-keras export ... --report` or runtimes.py: ``python benchmarks/faces_section.py``."""

import json
from pathlib import Path

R = Path("benchmarks/results")
detect = json.loads((R / "detect-cpu-2-cores.json").read_text())
detect_md = (R / "detect-cpu-2-cores.md").read_text()
align = json.loads((R / "align.json").read_text())
tmpl = json.loads((R / "align-template.json").read_text())
parity = json.loads((R / "export-parity-fer7-onnx.json").read_text())
card = json.loads(Path("metrics/fer7.json").read_text())
card_acc = card["metrics"]["accuracy"]
target = next(l for l in detect["summary"] if l["variant"].startswith("shared photos"))
faceless = next(l for l in detect["summary"] if l["variant"] == "no face")
t640 = next(
    l
    for l in json.loads((R / "detect-yunet-640-no-retry-under-load.json").read_text())["summary"]
    if l["variant"].startswith("shared")
)
t320 = next(
    l
    for l in json.loads((R / "detect-yunet-320-no-retry-under-load.json").read_text())["summary"]
    if l["variant"].startswith("shared")
)
rt_file = (
    "runtimes-cpu-2-cores.json"
    if (R / "runtimes-cpu-2-cores.json").is_file()
    else "runtimes-cpu-2-cores-under-load.json"
)
rt = json.loads((R / rt_file).read_text())
rows_text = ", ".join(
    f"{r['runtime']} ({r['threads']} thread{'s' if r['threads'] != 1 else ''}) {r['one_face']['p50_ms']:.1f} ({r['one_face']['cpu_ms']:.1f})"
    for r in rt["rows"]
)
imports_text = ", ".join(f"{k} {v:.2f} s" for k, v in rt["import_seconds_median"].items())


YUNET_SINCE = "2026-12-04"
"""Runs before this date measured the Haar cascade and the Keras model: not these targets."""


def run_info(data):
    """Where a result file records its run (machine, date, load, model): ``run``, ``machine`` or the top level."""
    return data.get("run", data.get("machine", data))


def published_run(name):
    """A result file of a run on the published model (its ONNX copy), or None when there is none yet."""
    path = R / name
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    info = run_info(data)
    model = str(info.get("model", data.get("model", info.get("command", ""))))
    date = str(info.get("date", ""))
    return data if "fer7" in model and date >= YUNET_SINCE else None


def row(data, prefix):
    return next((r for r in data["rows"] if r.get("what", "").startswith(prefix)), None) if data else None


def measured_note(data):
    if not data:
        return "not measured yet"
    info = run_info(data)
    return f"{info.get('date', '?')}, load {info.get('load_average_start', ['?'])[0]}"


serve = published_run("serve-cpu-2-cores-tensorflow.json")
video = published_run("video-cpu-2-cores-tensorflow.json")
camload = published_run("camera-load-cpu-2-cores.json")
campage = published_run("camera-page-cpu-2-cores.json")


def target_rows(serve, camload, campage, video):
    """The rows of one machine's result files that the timed targets read (None where a file is missing)."""
    return {
        "startup": row(serve, "fer-keras predict astronaut.png, whole process"),
        "inproc": row(serve, "predict_faces"),
        "post1": row(serve, "POST /predict, 1 client"),
        "post8": row(serve, "POST /predict, 8 concurrent"),
        "load16": next((r for r in camload["rows"] if r["clients"] == 16), None) if camload else None,
        "page": campage,
        "video": row(video, "analyze_video"),
    }


def target_values(serve, camload, campage, video):
    """The timed targets' cells from one machine's result files ("-" where a file is missing)."""
    r = target_rows(serve, camload, campage, video)
    fmt = lambda value, unit: "-" if value is None else f"{value:.1f} {unit}"
    load16 = r["load16"]
    return {
        "startup": fmt(r["startup"] and r["startup"]["p50_ms"] / 1000, "s"),
        "inproc": fmt(r["inproc"] and r["inproc"]["p50_ms"], "ms"),
        "post1": fmt(r["post1"] and r["post1"]["p50_ms"], "ms"),
        "post8": fmt(r["post8"] and r["post8"]["requests_per_s"], "req/s"),
        "load16": "-"
        if not load16
        else f"p50 {load16['p50_ms']:.0f} ms, 5xx {load16['5xx']}, RSS {load16['rss_start_mb']:.0f} -> {load16['rss_end_mb']:.0f} MiB",
        "page": fmt(r["page"] and r["page"]["answers_per_s"], "answers/s"),
        "video": fmt(r["video"] and r["video"]["frames_per_s"], "frames/s"),
    }


measured = target_values(serve, camload, campage, video)
amd_file = lambda name: json.loads((R / name).read_text())
AMD_NOW = {
    "serve": "serve-amd-epyc-2-cores-tensorflow.json",
    "camload": "camera-load-amd-epyc-2-cores.json",
    "campage": "camera-page-amd-epyc-2-cores.json",
    "video": "video-amd-epyc-2-cores-tensorflow.json",
}
AMD_BEFORE = {k: v.replace(".json", "-yunet-on-opencv.json") for k, v in AMD_NOW.items()}
AMD_FIRST = {k: v.replace(".json", "-first-onnx-run.json") for k, v in AMD_NOW.items()}
"""The first run of the same code as AMD_NOW (an earlier session): the machine's speed drifts between runs."""
amd_now = {k: amd_file(v) for k, v in AMD_NOW.items()}
amd_before = {k: amd_file(v) for k, v in AMD_BEFORE.items()}
measured_amd = target_values(**amd_now)
measured_amd_before = target_values(**amd_before)
amd_first = {k: amd_file(v) for k, v in AMD_FIRST.items()}
measured_amd_first = target_values(**amd_first)
first_serve = amd_first["serve"]


def timed_musts(files):
    """Whether each timed must of issue 24 that drift can tip holds in one machine's result files."""
    r = target_rows(**files)
    return {
        "in-process": r["inproc"]["p50_ms"] <= 20,
        "one-client": r["post1"]["p50_ms"] <= 25,
        "8-client": r["post8"]["requests_per_s"] >= 80,
        "camera": r["load16"]["p50_ms"] <= 150 and r["load16"]["5xx"] == 0,
    }


musts_first = timed_musts(amd_first)
musts_now = timed_musts(amd_now)
say = lambda names: ", ".join(names) or "none"
musts_split = say([k for k in musts_now if musts_first[k] != musts_now[k]])
musts_both = say([k for k in musts_now if musts_first[k] and musts_now[k]])
musts_neither = say([k for k in musts_now if not (musts_first[k] or musts_now[k])])
detect_amd = amd_file("detect-amd-epyc-2-cores.json")
target_amd = next(l for l in detect_amd["summary"] if l["variant"].startswith("shared photos"))
faceless_amd = next(l for l in detect_amd["summary"] if l["variant"] == "no face")
m = detect["machine"]
load_sentence = (
    f"Times: median of {detect['repeats']} calls per photo on the idle CPU (load average {m['load_average_start'][0]} at the start)."
    if detect["repeats"] > 1 and m["load_average_start"][0] < 1.5
    else f"**The times in this run are not comparable**: it ran under load (load average {m['load_average_start'][0]}) with one call per photo."
)
rp, rf, fr = align["rotation_photos"], align["rotation_fer_test_faces"], align["framing_fer_test"]["rows"]
pct = lambda x: f"{100 * x:.1f} %"
m = detect["machine"]

amd = amd_now["serve"]
amd_threads = amd_file("opencv-threads-amd-epyc-2-cores.json")
cpu_cell = lambda r: "" if r["cpu_ms"] != r["cpu_ms"] else f"{r['cpu_ms']:.1f}"  # NaN: not measured
rate_cell = lambda r: f"{r['requests_per_s']:.1f}" if "requests_per_s" in r else ""
amd_rows = "\n".join(
    f"| {r['what'].strip()} | {r['p50_ms']:.1f} | {cpu_cell(r)} | {rate_cell(r)} |" for r in amd["rows"]
)
amd_ref = amd["reference"]
amd_inproc = row(amd, "predict_faces")
amd_process = row(amd, "fer-keras predict astronaut.png, whole process")
amd_detect = row(amd, "  detect faces (yunet)")
amd_detect_cv = row(amd, "  (detect with YuNet run by OpenCV")
amd_before_detect = row(amd_before["serve"], "  detect faces (yunet)")
amd_model, amd_decode = row(amd, "  model call alone"), row(amd, "  decode PNG")
QUANT_FILE = "quantize-int8-fer7-amd-epyc-2-cores.json"
quant = amd_file(QUANT_FILE)
quant_float = quant["rows"][0]
quant_best = max(quant["rows"][1:], key=lambda r: r["top1_agreement"])
quant_fast = max(quant["rows"][1:], key=lambda r: r["speed_up_1_thread"])
callers = amd_threads["callers"]
threads_rows = "\n".join(
    f"| {r['opencv_threads']} | {r['detect_ms']:.1f} ({r['detect_cpu_ms']:.1f}) | {r['photos_per_s_1_caller']:.1f} "
    f"({r['cpu_ms_per_photo_1_caller']:.1f}) | {r[f'photos_per_s_{callers}_callers']:.1f} ({r[f'cpu_ms_per_photo_{callers}_callers']:.1f}) |"
    for r in amd_threads["rows"]
)
untouched = ("decode", "colour conversion", "drawing", "encoding")  # video parts the YuNet change does not touch
untouched_ms = lambda d: sum(r["p50_ms"] for r in d["rows"] if r.get("what") in untouched)
ratio = untouched_ms(amd_now["video"]) / untouched_ms(amd_before["video"])
drift = (
    f" (the machine itself ran {ratio:.2f}x as long: compare the two columns with care)"
    if abs(ratio - 1) > 0.05
    else ""
)
amd_section = f"""
### The same path on another 2-core machine (AMD EPYC), with `fer` measured beside it

Later sessions ran on {amd["run"]["cpu"]} with 2 cores and no AVX-512 (so no native bf16 either), not the Intel
Xeon of the table above: its numbers compare with each other, not with the Intel column.
`python benchmarks/serve.py --model fer_keras/assets/fer7.keras --fer-path DIR` ({measured_note(amd)} at the start;
`results/serve-amd-epyc-2-cores-tensorflow.json`) measured the `fer` package {amd_ref["version"]} in the same run
(installed with `pip install --no-deps --target DIR fer=={amd_ref["version"]} "setuptools<81"` and run with this
environment's TensorFlow and OpenCV; `FER(mtcnn=False)`, its default Haar path, on the PNG's path). The
throughput rows' clients are light `http.client` connections posting a form encoded once (as wrk or hey do)
and, for comparison, `httpx` clients; both share the two cores with the server.

| what | p50 ms | CPU ms per call (server's for HTTP) | requests/s |
|---|---:|---:|---:|
{amd_rows}
| `fer` {amd_ref["version"]} `detect_emotions`, same photo, same run | {amd_ref["p50_ms"]:.1f} | {amd_ref["cpu_ms"]:.1f} | |
| `fer` one-photo script, whole process, median of {amd_ref["starts"]} | {amd_ref["process_median_ms"]:.0f} | | |

**YuNet on ONNX Runtime.** OpenCV's `cv2.FaceDetectorYN` spent {amd_before_detect["cpu_ms"]:.1f} ms of CPU per
photo in the whole detection step (resize, network on OpenCV's DNN module with two threads, decoding; the earlier run). `YuNetDetector` now runs the same ONNX file with
ONNX Runtime on one thread and decodes its outputs as OpenCV does (same grid decoding, OpenCV's own NMS):
in the run above {amd_detect["cpu_ms"]:.1f} ms of CPU ({amd_detect["p50_ms"]:.1f} ms p50) against {amd_detect_cv["cpu_ms"]:.1f}
({amd_detect_cv["p50_ms"]:.1f} ms) for OpenCV's on the same photo, and on the shared photos x 5 rotations a median
{target_amd["yunet"]["median_ms"]} ms against {target_amd["yunet-opencv"]["median_ms"]} ms per photo
(`results/detect-amd-epyc-2-cores.json`: {target_amd["yunet"]["found"]} of {target_amd["faces"]} faces found by ONNX Runtime's, {target_amd["yunet-opencv"]["found"]} by OpenCV's;
{faceless_amd["yunet"]["extra"]} and {faceless_amd["yunet-opencv"]["extra"]} extra boxes on the faceless photos). tests/test_faces.py checks that both engines give the
same boxes, landmarks and scores. `YuNetDetector(engine="opencv")` keeps OpenCV's.

The targets on this machine, before that change (`results/*-amd-epyc-2-cores*-yunet-on-opencv.json`) and after it
(`results/*-amd-epyc-2-cores*.json`, `bash benchmarks/faces_targets.sh`'s commands with `--out`):

| what | must | aim | YuNet on OpenCV | YuNet on ONNX Runtime, first run | same code, second run |
|---|---|---|---|---|---|
| `fer-keras predict astronaut.png`, whole process | <= 2 s | <= 0.6 s | {measured_amd_before["startup"]} | {measured_amd_first["startup"]} | {measured_amd["startup"]} |
| photo -> emotions in-process, astronaut, p50 | <= 20 ms | <= 12 ms | {measured_amd_before["inproc"]} | {measured_amd_first["inproc"]} | {measured_amd["inproc"]} |
| `POST /predict`, 1 client, p50 | <= 25 ms | <= 15 ms | {measured_amd_before["post1"]} | {measured_amd_first["post1"]} | {measured_amd["post1"]} |
| 8 clients | >= 80 req/s | >= 120 req/s | {measured_amd_before["post8"]} | {measured_amd_first["post8"]} | {measured_amd["post8"]} |
| camera load, 16 clients, 10 % malformed | p50 <= 150 ms, zero 5xx, memory flat | p50 <= 80 ms | {measured_amd_before["load16"]} | {measured_amd_first["load16"]} | {measured_amd["load16"]} |
| page, 1 camera client | >= 12 answers/s | >= 20 answers/s | {measured_amd_before["page"]} | {measured_amd_first["page"]} | {measured_amd["page"]} |
| video 640x480 | >= 40 frames/s | >= 80 frames/s | {measured_amd_before["video"]} | {measured_amd_first["video"]} | {measured_amd["video"]} |

Measured: serve.py {measured_note(amd_before["serve"])} -> {measured_note(amd)}; camera_load.py {measured_note(amd_before["camload"])} ->
{measured_note(amd_now["camload"])}; camera_page.py {measured_note(amd_before["campage"])} -> {measured_note(amd_now["campage"])}; video.py
{measured_note(amd_before["video"])} -> {measured_note(amd_now["video"])}. In video.py the parts the change does not touch (decoding, colour
conversion, drawing, encoding) took {untouched_ms(amd_before["video"]):.1f} ms per frame before and {untouched_ms(amd_now["video"]):.1f} ms after{drift}; the
in-run rows above (ONNX Runtime against OpenCV on the same photo, in one process) measure the change. The
first run of the same code ({measured_note(first_serve)}; `results/*-first-onnx-run.json`) and the second
(the files without a suffix, and the rows above) differ by this machine's drift alone. Of the timed musts, met in
one run and missed in the other: {musts_split}; met in both: {musts_both}; missed in both: {musts_neither}.

On this machine a photo costs fer_keras {amd_inproc["p50_ms"]:.1f} ms against `fer`'s {amd_ref["p50_ms"]:.1f} ({amd_ref["p50_ms"] / amd_inproc["p50_ms"]:.1f}x), and a
whole one-photo process {amd_process["p50_ms"] / 1000:.2f} s against {amd_ref["process_median_ms"] / 1000:.1f} s. What is left per photo is the
model call ({amd_model["cpu_ms"]:.1f} ms of CPU, nearly all of it convolutions in float32) and decoding
the PNG ({amd_decode["cpu_ms"]:.1f} ms): with YuNet's {amd_detect["cpu_ms"]:.1f} ms that is {amd_model["cpu_ms"] + amd_decode["cpu_ms"] + amd_detect["cpu_ms"]:.0f} ms of CPU per photo, so two cores
cannot serve 80 such photos a second here whatever the server does.

The two levers left were measured and are not taken. **int8**: `python benchmarks/quantize.py --data
../shared/data/fer2013` (ONNX Runtime's static quantization, weights per channel, {quant["machine"]["calibration_faces"]} training faces for
calibration; `results/{QUANT_FILE}`) makes the model call up to {quant_fast["speed_up_1_thread"]:.1f}x as fast
({quant_float["p50_ms_1_threads"]:.1f} -> {quant_fast["p50_ms_1_threads"]:.1f} ms on one thread), but no int8 copy agrees with the Keras model on more than
{pct(quant_best["top1_agreement"])} of the {quant_best["images"]:,} test faces ({quant_best["disagreements"]} differ; accuracy {pct(quant_best["exported_accuracy"])} against {pct(quant_float["exported_accuracy"])}), far below the
99.9 % an exported model must reach, so the shipped model stays float32. **PNG decoding**: a `perf record` of the
server under the 8-client load (one run; `results/perf-serve-8-clients-amd-epyc-2-cores.txt`) put 12 % of its CPU
in libpng inside OpenCV's wheel, nearly all of it the scalar Paeth unfiltering (the benchmark's PNG, written by
PIL, has 92 % of its rows Paeth-filtered), and 13 % in inflating with the system's zlib 1.2.13; ONNX Runtime
(YuNet and the model) took 49 %, Python 8 %. pyspng decodes the PNG faster but returns a half-black image for a
damaged file that OpenCV and PIL refuse (tests/test_predict.py keeps that case), so OpenCV stays the decoder.

OpenCV's thread count was measured too, before the change (`python benchmarks/opencv_threads.py`, alternating,
same run; `results/opencv-threads-amd-epyc-2-cores.json`): YuNet on one OpenCV thread used less CPU but took
longer, and the whole photo path with {callers} callers at once got no more photos through. OpenCV keeps its default.

| OpenCV threads | YuNet ms (CPU ms) | photo path, 1 caller: photos/s (CPU ms per photo) | {callers} callers: photos/s (CPU ms per photo) |
|---:|---:|---:|---:|
{threads_rows}
"""

YUNET_ON_ONNX_SINCE = "2026-12-04 20:00"
"""Runs before this time ran YuNet on OpenCV's engine (``cv2.FaceDetectorYN``), later ones on ONNX Runtime."""
intel_dates = [str(run_info(d).get("date", "")) for d in (serve, camload, campage, video) if d]
intel_engine = (
    " All of them ran YuNet on OpenCV's engine, before it moved to ONNX Runtime (next section)."
    if intel_dates and max(intel_dates) < YUNET_ON_ONNX_SINCE
    else ""
)
text = f"""
## Faces: YuNet against the Haar cascade, alignment, the exported model (issue 24)

### Face detection on real photos

`benchmarks/detect.py` runs both detectors at their default settings on the photos of
`../shared/photos` (human faces counted in `faces.json`) and scikit-image's astronaut, each as it is,
turned +-20 and +-35 degrees, scaled 0.5x and 2x, blurred, darkened (x 0.3) and re-encoded as JPEG
quality 20, and on {faceless["photos"]} scikit-image photos without a human face. Faces are counted, not
located: with `n` faces, `min(found, n)` are found and `max(0, found - n)` boxes are extra.

```bash
python benchmarks/detect.py [--repeats 5]   # writes results/detect-cpu-2-cores.json and .md
```

{detect_md}
{load_sentence} The counts do not depend on the load. Target (issue 24): faces found on the shared photos x 5 rotations >= 90 %, aim
95 %: YuNet **{target["yunet"]["found"]} of {target["faces"]}** ({pct(target["yunet"]["found"] / target["faces"])}), the Haar cascade {target["haar"]["found"]}; extra boxes on the
faceless photos: YuNet **{faceless["yunet"]["extra"]}**, Haar {faceless["haar"]["extra"]}. YuNet searches the image at 320 pixels on its
longer side (the OpenCV Zoo demo's size) and once more at 640 when nothing is found. Searching at 640
found {t640["yunet"]["found"]} of {t640["faces"]} at a median {t640["yunet"]["median_ms"]} ms per photo, at 320 without the second search {t320["yunet"]["found"]} in
{t320["yunet"]["median_ms"]} ms (`results/detect-yunet-640-no-retry-under-load.json`, `...-320-no-retry-under-load.json`: the
same loaded machine, one call per photo; the three faces lost at 320 are in three photos turned
-35 degrees).

### Alignment

`benchmarks/align.py` (the published `fer7` through its ONNX copy; YuNet). The landmark template,
`fer_keras.predict.align.FER_TEMPLATE`, is where YuNet puts the five landmarks on FER-2013 *training*
faces enlarged 3x and padded into a grey frame (`--template`: {tmpl["found"]} of {tmpl["faces"]} faces found, every 10th
training face; `results/align-template.json`). Each face is mapped onto it by the least-squares
similarity transform of its five landmarks, sampled with area averaging when it shrinks.

| check | aligned (landmarks -> FER-2013 framing) | box + 10 % margin (before) |
|---|---:|---:|
| framing: photo path on the {align["framing_fer_test"]["faces"]} FER-2013 test faces in a frame, faces found | {fr["aligned"]["found"]} | {fr["box crop"]["found"]} |
| accuracy of the photo path on them | **{pct(fr["aligned"]["accuracy"])}** | {pct(fr["box crop"]["accuracy"])} |
| accuracy of `--no-detect` (the 48x48 image itself) on the same faces | {pct(fr["aligned"]["direct_accuracy_same_faces"])} | {pct(fr["box crop"]["direct_accuracy_same_faces"])} |
| same emotion as upright, turned +-20/+-35, real photos ({rp["aligned"]["found_turned"]} face pairs) | {pct(rp["aligned"]["agreement"])} | {pct(rp["box crop"]["agreement"])} |
| same emotion as upright, turned +-20/+-35, {rf["faces"]} FER-2013 test faces in a frame ({rf["aligned"]["found_turned"]} pairs) | {pct(rf["aligned"]["agreement"])} | {pct(rf["box crop"]["agreement"])} |

Reading it: cut by its box, a face found in a photo is framed unlike FER-2013's crops and loses
{100 * (fr["box crop"]["direct_accuracy_same_faces"] - fr["box crop"]["accuracy"]):.1f} points of accuracy against classifying the FER-2013 image itself; aligned, it is within
{100 * abs(fr["aligned"]["direct_accuracy_same_faces"] - fr["aligned"]["accuracy"]):.1f} point of it. Under rotation alignment helps on the FER-2013 faces; on the real photos
({rp["aligned"]["found_turned"]} pairs from 8 faces) the box crop agreed more often, a sample too small to separate them. YuNet's
landmarks under-report the roll of a turned face (its eye line stays nearer level than the eyes), so
alignment fixes the framing more than the rotation.

### The exported model

`fer-keras export fer_keras/assets/fer7.keras --format onnx --data ../shared/data/fer2013/test`
(Keras' own `model.export` through tf2onnx) wrote `fer_keras/assets/fer7.onnx` after checking it on
the whole FER-7 test split ({parity["images"]:,} images): top-1 agreement with the Keras model
**{pct(parity["top1_agreement"])}** ({parity["disagreements"]} disagreements; target >= 99.9 %), largest probability difference
{parity["max_abs_probability_difference"]:.1e}; accuracy {pct(parity["exported_accuracy"])} for both, against {pct(card_acc)} on the card
(within {100 * abs(parity["exported_accuracy"] - card_acc):.2f} point; target 0.1). Raw: `results/export-parity-fer7-onnx.json`. tests/test_faces.py
checks that a LiteRT export (`--format litert`) agrees with Keras too.

ONNX Runtime was chosen over LiteRT by `benchmarks/runtimes.py` (model call for one and eight faces,
Keras for comparison, and a fresh process's imports, in one run; `results/{rt_file}`, load average
{rt["machine"]["load_average_start"][0]} at the start). Model call for one face, p50 wall (CPU) ms: {rows_text}; a fresh process importing
the runtime with OpenCV: {imports_text}. ONNX Runtime runs with two threads that do not spin (see the
targets below). Again:

```bash
python benchmarks/runtimes.py   # writes results/runtimes-cpu-2-cores.json
```

### Targets of issue 24, to measure on the idle CPU

All of them in one go: `bash benchmarks/faces_targets.sh` (refuses to start while a recorded run uses the CPU).

Each row's command runs on the published model (its ONNX copy is picked up beside it); "-": not measured yet on it.

| what | must | aim | measured (on the published model) | command |
|---|---|---|---|---|
| `fer-keras predict astronaut.png`, whole process, median of 5 | <= 2 s | <= 0.6 s | {measured["startup"]} | `python benchmarks/serve.py --model fer_keras/assets/fer7.keras` (row "whole process") |
| photo -> emotions in-process, astronaut, p50 | <= 20 ms | <= 12 ms | {measured["inproc"]} | same run, first row |
| `POST /predict`, 1 client, p50 | <= 25 ms | <= 15 ms | {measured["post1"]} | same run |
| 8 clients | >= 80 req/s | >= 120 req/s | {measured["post8"]} | same run |
| camera load, 16 clients, 10 % malformed | p50 <= 150 ms, zero 5xx, memory flat | p50 <= 80 ms | {measured["load16"]} | `python benchmarks/camera_load.py --model fer_keras/assets/fer7.keras` |
| page, 1 camera client | >= 12 answers/s | >= 20 answers/s | {measured["page"]} | `python benchmarks/camera_page.py` (also writes figures/camera_page_fer7.png) |
| video 640x480 | >= 40 frames/s | >= 80 frames/s | {measured["video"]} | `python benchmarks/video.py --model fer_keras/assets/fer7.keras` |
| faces found, shared photos x 5 rotations | >= 90 % | >= 95 % | {target["yunet"]["found"]} of {target["faces"]} | `python benchmarks/detect.py` |
| extra boxes on the faceless photos | 0 | 0 | {faceless["yunet"]["extra"]} | same run |

When each was measured: serve.py {measured_note(serve)}; camera_load.py {measured_note(camload)};
camera_page.py {measured_note(campage)}; video.py {measured_note(video)}. Then
`python benchmarks/faces_section.py` writes this section again. The first idle run of all of them (2026-12-04
15:40 UTC) had ONNX Runtime on one thread and PIL reading a PNG's EXIF by decoding it whole (in-process
29.6 ms, of which 15.1 ms decoding); serve.py was run again after both fixes (two threads without spinning;
a PNG's EXIF read from its header), the other runs are from before them (the camera and video paths decode
JPEG or raw frames, where the EXIF fix changes nothing).{intel_engine}
{amd_section}"""
p = Path("benchmarks/README.md")
s = p.read_text()
marker = "\n## Faces: YuNet against the Haar cascade"
if marker in s:
    s = s[: s.index(marker)]
p.write_text(s.rstrip("\n") + "\n" + text)
print(text[:400])
