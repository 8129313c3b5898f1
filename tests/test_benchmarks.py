"""The benchmark scripts keep working (benchmarks/). They are run tiny; no timing is asserted,
only that every number they report is there and is a positive, finite number."""

import importlib.util
import json
import math
import os
import shutil

import pytest
from scripts import load_script


def _load(name):
    return load_script(f"benchmarks/{name}.py")


def _positive(value):
    return isinstance(value, float | int) and math.isfinite(value) and value > 0


def test_bench_ops_reports_every_op_on_every_rung(tmp_path, capsys):
    bench = _load("bench_ops")
    out = tmp_path / "ops.json"
    assert bench.main(["--batch", "3", "--naive-batch", "1", "--repeats", "1",
                       "--json", str(out)]) == 0  # fmt: skip
    result = json.loads(out.read_text())
    assert _positive(result["peak_gflops"])
    assert [row["op"] for row in result["ops"]] == [case[0] for case in bench.CASES]
    for row in result["ops"]:
        for rung in ("naive", "fast"):
            assert all(_positive(t) for t in row[rung]), (row["op"], rung, row[rung])
        tuned = row["tuned"]
        if row["op"].startswith(("conv2d", "max pool", "dense")):  # the ops the annex has
            assert all(_positive(t) for t in tuned["chosen"][:2]), (row["op"], tuned)
        else:
            assert tuned == {}, row["op"]
    printed = capsys.readouterr().out
    assert "| conv2d 32→64" in printed and "Measured peak" in printed and "per-image" in printed


def test_bench_train_reports_training_inference_latency_layers_and_memory(tmp_path, capsys):
    bench = _load("bench_train")
    out = tmp_path / "train.json"
    argv = ["--batch-size", "4", "--infer-batch", "8", "--steps", "1", "--repeats", "1",
            "--warmup", "1", "--latency-calls", "3", "--threads", "1", "--json", str(out)]
    torch_importable = importlib.util.find_spec("torch") is not None
    if torch_importable:
        argv.append("--compare-torch")
    assert bench.main(argv) == 0
    result = json.loads(out.read_text())
    ours = result["convnet"]
    for key in ("train_images_per_s", "train_step_ms", "infer_images_per_s", "latency_ms",
                "latency_alone_ms", "latency_fast_rung_ms", "optimizer_step_ms",
                "peak_rss_mb", "startup_s"):  # fmt: skip
        assert _positive(ours[key]), (key, ours[key])
    assert list(ours["layers"]) == ["conv2d", "conv2d_1", "max_pooling2d", "dropout", "flatten",
                                    "dense", "dropout_1", "dense_1"]  # fmt: skip
    assert all(_positive(ms["forward_ms"]) for ms in ours["layers"].values())
    assert result["blas"]["numba_threads"] == 1
    if torch_importable:
        assert _positive(result["torch"]["train_images_per_s"])
    text = capsys.readouterr().out
    assert "training, images/s" in text and "BLAS:" in text
    assert "convnet on its own (before PyTorch is loaded)" in text


def test_bench_augment_reports_each_augmenter_beside_a_training_step(tmp_path, capsys):
    bench = _load("bench_augment")
    out = tmp_path / "augment.json"
    assert bench.main(["--data", "random", "--batch-size", "4", "--repeats", "1", "--calls", "2",
                       "--steps", "1", "--json", str(out)]) == 0  # fmt: skip
    result = json.loads(out.read_text())
    assert list(result["medians_ms"]) == [
        "RandomAffine(rotation=10.0, zoom=0.1, shift=2.0)", "random_shift(max_shift=1)",
        "seed_net.train_on_batch", "small_net.train_on_batch"]  # fmt: skip
    assert all(_positive(ms) for ms in result["medians_ms"].values())
    assert len(result["ratios"]) == 4 and all(_positive(r) for r in result["ratios"].values())
    assert "of a seed_net.train_on_batch step" in capsys.readouterr().out


@pytest.mark.parametrize("script", ["bench_ops", "bench_train", "bench_compile", "bench_latency",
                                    "bench_augment"])  # fmt: skip
def test_benchmarks_say_how_to_run_them(script):
    assert "Usage::" in _load(script).__doc__


# On its smallest step, one matrix product: the cold run compiles at least the GEMM kernel and
# its parallel driver into the cache folder. (The other steps, a predict or a training step,
# differ only in what the child process runs, and their cold runs compile for 25 s or more.)
def test_bench_compile_times_a_cold_and_a_warm_cache(tmp_path, capsys):
    bench = _load("bench_compile")
    out = tmp_path / "compile.json"
    assert bench.main(["--step", "gemm", "--warm-runs", "1", "--no-plain",
                       "--json", str(out)]) == 0  # fmt: skip
    result = json.loads(out.read_text())
    for run in ("cold", "warm"):
        for key in ("import_s", "first_step_s", "first_step_cpu_s", "second_step_s"):
            assert _positive(result[run][key]), (run, key, result[run][key])
    assert result["cached_kernels"] >= 2 and result["cache_bytes"] > 0
    assert "| first step, CPU |" in capsys.readouterr().out


def test_bench_latency_watches_the_tuned_and_the_fast_rung(tmp_path, capsys):
    bench = _load("bench_latency")
    out = tmp_path / "latency.json"
    setting = os.environ.get("CONVNET_SPECIALISE")
    assert bench.main(["--images", "1", "3", "--seconds", "0.2", "--window", "0.1",
                       "--threads", "1", "--generic", "--json", str(out)]) == 0  # fmt: skip
    assert os.environ.get("CONVNET_SPECIALISE") == setting  # put back as it was
    result = json.loads(out.read_text())
    assert list(result["runs"]) == ["1", "3"] and result["threads"] == 1
    for medians in result["runs"].values():
        assert list(medians) == ["tuned", "fast", "tuned, generic kernels"]
        assert all(m and all(_positive(v) for v in m) for m in medians.values())
    assert "| images | predict, tuned rung, ms | predict, fast rung, ms | predict, tuned rung, " \
        "generic kernels, ms |" in capsys.readouterr().out  # fmt: skip


@pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xdotool")),
                    reason="needs Xvfb and xdotool")  # fmt: skip
def test_bench_panel_times_the_see_inside_panel(digit_model, tmp_path, capsys):
    _, model = digit_model
    out = tmp_path / "panel.json"
    assert _load("bench_panel").main(["--model", str(model), "--rounds", "1",
                                      "--json", str(out)]) == 0  # fmt: skip
    result = json.loads(out.read_text())
    assert len(result["panel_ms"]) == 2 and all(_positive(t) for t in result["panel_ms"])
    assert all(t >= 150 for t in result["pen_up_ms"])  # the app's pause, then the panel
    assert "recognition start to panel drawn: median" in capsys.readouterr().out
