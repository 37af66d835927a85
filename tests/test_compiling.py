"""torch.compile by the `compile` parameter: when it is on, its timing, its eager fallback, padded scoring."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from transformers.modeling_outputs import ImageClassifierOutput

from foodlib import compiling, config
from foodlib.train import scoring

CONTIGUOUS_AND_CHANNELS_LAST = (torch.contiguous_format, torch.channels_last)


class Graphs:
    """A torch.compile backend that runs the traced graph as it is (no C compiler); counts compiles and runs."""

    def __init__(self):
        self.count = self.runs = 0

    def __call__(self, gm, example_inputs):
        self.count += 1

        def run(*args):
            self.runs += 1
            return gm.forward(*args)

        return run


def failing_backend(gm, example_inputs):
    raise RuntimeError("no C compiler here\n(and more lines nobody needs)")


class Tiny(torch.nn.Module):
    """Called like a Hugging Face classifier: pixel_values in, an output with .logits out."""

    def __init__(self, classes: int = 5):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 8, 4, stride=4)
        self.head = torch.nn.Linear(8, classes)
        self.drop = torch.nn.Dropout(0.5)

    def forward(self, pixel_values):
        return ImageClassifierOutput(logits=self.head(self.drop(self.conv(pixel_values).mean((2, 3)))))


@pytest.mark.parametrize("setting, profile, device, expected", [
    ("auto", "full", "cuda", True), ("auto", "quick", "cuda", True), ("auto", "rehearsal", "cuda", True),
    ("auto", "smoke", "cuda", False), ("auto", "full", "cpu", False), ("auto", "smoke", "cpu", False),
    ("on", "smoke", "cpu", True), ("off", "full", "cuda", False),
])
def test_compile_setting_resolves(setting, profile, device, expected):
    assert compiling.enabled(setting, profile, device) is expected


def test_compile_parameter_is_validated():
    assert config.resolve("smoke").compile == config.resolve("full").compile == "auto"
    assert config.resolve("smoke", compile="on").compile == "on"
    with pytest.raises(config.ParameterError, match="compile"):
        config.resolve("smoke", compile="yes")
    with pytest.raises(ValueError):
        compiling.enabled("yes", "full", "cuda")


def test_off_returns_the_model_itself():
    model = Tiny()
    assert compiling.maybe_compile(model, False) is model and compiling.compile_seconds(model) is None


def test_one_graph_per_mode_and_a_short_batch_runs_eagerly():
    model, graphs = Tiny().eval(), Graphs()
    compiled = compiling.maybe_compile(model, True, backend=graphs)
    x = torch.randn(6, 3, 16, 16).contiguous(memory_format=torch.channels_last)  # the loader's usual layout
    with torch.no_grad():
        first = compiled(pixel_values=x).logits
        assert graphs.count == 1 and compiled.compile_s > 0
        spent = compiled.compile_s
        compiled(pixel_values=x.contiguous())  # the other layout: made channels-last, the same graph
        short = compiled(pixel_values=x[:4]).logits  # a last batch of another size: eager, no new graph
        assert graphs.count == 1 and compiled.compile_s == spent
        torch.testing.assert_close(first, model(pixel_values=x).logits, rtol=0, atol=0)
        torch.testing.assert_close(short, model(pixel_values=x[:4]).logits, rtol=0, atol=0)
    compiled.train()
    assert model.training
    compiled(pixel_values=x).logits.sum().backward()  # training mode with gradients: its own graph
    assert graphs.count == 2 and compiled.compile_s > spent
    assert model.conv.weight.grad is not None


def _compile_warnings(record) -> list[str]:
    return [str(w.message) for w in record if "torch.compile failed" in str(w.message)]


@pytest.mark.parametrize("how", ["torch.compile raises", "the backend raises"])
def test_a_failed_compile_warns_once_and_runs_eagerly(how, monkeypatch, capfd):
    model, options = Tiny().eval(), {}
    if how == "torch.compile raises":
        def refuse(*args, **kwargs):
            raise RuntimeError("Dynamo is not supported here")

        monkeypatch.setattr(torch, "compile", refuse)
    else:
        options["backend"] = failing_backend
    x = torch.randn(6, 3, 16, 16)
    with warnings.catch_warnings(record=True) as record, torch.no_grad():
        warnings.simplefilter("always")
        compiled = compiling.maybe_compile(model, True, **options)
        outs = [compiled(pixel_values=x).logits for _ in range(3)]
        compiled.train()
        compiled(pixel_values=x)
    messages = _compile_warnings(record)
    assert len(messages) == 1 and "runs eagerly" in messages[0] and "\n" not in messages[0]
    assert compiled.failed and "Traceback" not in capfd.readouterr().err
    for out in outs:
        torch.testing.assert_close(out, model.eval()(pixel_values=x).logits, rtol=0, atol=0)


@pytest.mark.parametrize("memory_format", CONTIGUOUS_AND_CHANNELS_LAST)
def test_pad_batch_keeps_layout_and_rows(memory_format):
    full = torch.randn(8, 3, 6, 6).contiguous(memory_format=memory_format)
    assert compiling.pad_batch(full, 8)[0] is full
    padded, n = compiling.pad_batch(full[:3], 8)
    assert n == 3 and padded.shape == full.shape and padded.stride() == full.stride()
    assert torch.equal(padded[:3], full[:3]) and not padded[3:].any()


def test_padded_scoring_gives_the_real_rows_the_same_outputs():
    """11 images in batches of 4: the last batch padded from 3 to 4 rows, one graph, the eager logits."""
    model, graphs = Tiny(), Graphs()
    gen = torch.Generator().manual_seed(0)
    # channels-last images, as the loader's transforms give them (and as the compiled model is fed)
    dataset = [(torch.randn(16, 16, 3, generator=gen).permute(2, 0, 1), i % 5) for i in range(11)]
    eager = scoring.predict(model, dataset, batch_size=4, num_workers=0, device="cpu")
    compiled = compiling.maybe_compile(model, True, backend=graphs)
    padded = scoring.predict(compiled, dataset, batch_size=4, num_workers=0, device="cpu")
    assert graphs.count == 1 and graphs.runs == 3  # the padded last batch ran the compiled graph too
    assert padded.shape == eager.shape == (11, 5)
    np.testing.assert_array_equal(padded, eager)
    assert model.training  # predict puts back the mode it found


# -- wired into training and scoring (smoke data, tiny models) ----------------------------------

@pytest.fixture(scope="module")
def prepared_smoke(tmp_path_factory, smoke_data):
    params = config.resolve("smoke", results_dir=str(tmp_path_factory.mktemp("compile") / "results"))
    return params, smoke_data(params)


def _fit(tmp_path, prepared, model_name: str, **overrides):
    """A few training steps (max_steps stops the first epoch early), then the test split scored."""
    from foodlib import train

    params = config.resolve("smoke", results_dir=str(tmp_path / "results"), num_epochs=1, max_steps=3,
                            **overrides)
    result = train.fit(model_name, params, prepared, device="cpu", progress=False)
    frame, summary = scoring.test_predictions(result, params, prepared, "cpu")
    return result, frame, summary


def test_fit_with_compile_on_falls_back_to_eager_and_gives_the_same_predictions(
        prepared_smoke, tmp_path, monkeypatch):
    """Compiling cannot work here (torch.compile raises): training warns, goes on eagerly, matches compile off."""
    _, prepared = prepared_smoke
    _, expected, off_summary = _fit(tmp_path / "off", prepared, "vit", compile="off")
    assert off_summary["eval_compile_s"] is None

    def refuse(*args, **kwargs):
        raise RuntimeError("no working C compiler")

    monkeypatch.setattr(torch, "compile", refuse)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        result, got, _ = _fit(tmp_path / "on", prepared, "vit", compile="on")
    assert result.state["global_step"] == 3
    assert len(_compile_warnings(record)) == 2  # one per wrapped model: the one trained, the best one scored
    assert got["pred"].tolist() == expected["pred"].tolist()
    np.testing.assert_array_equal(np.stack(got["probs"]), np.stack(expected["probs"]))


def test_fit_with_compile_on_compiles_swin_once_per_mode_and_times_it(prepared_smoke, tmp_path, monkeypatch):
    """Swin V2 with SDPA through dynamo: one training graph for all steps, one eval graph with padded batches."""
    _, prepared = prepared_smoke
    graphs, real_compile = Graphs(), torch.compile
    monkeypatch.setattr(torch, "compile", lambda model, **kw: real_compile(model, **{**kw, "backend": graphs}))
    result, frame, summary = _fit(tmp_path, prepared, "swin", compile="on")
    assert result.state["global_step"] == 3 and len(frame) == len(prepared.split("test"))
    train_summary = result.summary()
    assert train_summary["train_compile_s"] > 0 and train_summary["train_wall_time_s"] > 0
    assert summary["eval_compile_s"] > 0 and len(prepared.split("test")) % 64 != 0  # a padded last batch
    assert graphs.count == 2 and graphs.runs == 3 + -(-len(frame) // 64)  # every call ran a compiled graph


def test_clip_scoring_compiles_the_image_tower_once_and_pads_the_last_batch(smoke_ok, monkeypatch):
    """04 with compile on: one eval graph for every batch (the short last one padded), the same probabilities
    as eager, the compile time reported apart."""
    from foodlib import models, zeroshot
    from foodlib.data.prepare import load_prepared

    prepared = load_prepared(smoke_ok)
    model, pre = models.load("clip", smoke_ok, prepared.classes)
    graphs, real_compile = Graphs(), torch.compile
    monkeypatch.setattr(torch, "compile", lambda m, **kw: real_compile(m, **{**kw, "backend": graphs}))
    on = zeroshot.score(config.resolve("smoke", results_dir=smoke_ok.results_dir, compile="on", eval_batch_size=32),
                        model, pre, prepared, "cpu")
    off = zeroshot.score(config.resolve("smoke", results_dir=smoke_ok.results_dir, eval_batch_size=32),
                         model, pre, prepared, "cpu")
    n = len(prepared.split("test"))
    assert n % 32 != 0 and graphs.count == 1 and graphs.runs == -(-n // 32)
    assert on.compile_s > 0 and off.compile_s is None
    for name, probs in off.probs.items():
        assert on.probs[name].shape == probs.shape == (n, len(prepared.classes))
        np.testing.assert_allclose(on.probs[name], probs, atol=1e-5)
