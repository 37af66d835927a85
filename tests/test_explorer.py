"""The attention explorer driven as a click would drive it: set a widget's value, read what is drawn.

Uses the smoke series run once per session (`smoke_ok`): 02-04's prediction files, 05's disagreement sets
and 06's deletion table under its run_dir; and a made-up catalogue of Food-101's size (tests/fake_catalogue.py).
"""
from __future__ import annotations

import dataclasses
import json

import ipywidgets.embed
import nbformat
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba

from foodlib import artifacts, attention, config
from foodlib.attention import catalogue
from foodlib.data.prepare import load_prepared

from fake_catalogue import fabricate

MODELS = ("vit", "swin", "clip")


@pytest.fixture(scope="module")
def loaded(smoke_ok):
    prepared = load_prepared(smoke_ok)
    return prepared, attention.load_explainers(smoke_ok, prepared.classes)


@pytest.fixture(scope="module")
def preds(smoke_ok):
    return {m: pd.read_parquet(artifacts.prediction_path(m, smoke_ok)).set_index("image_id") for m in MODELS}


@pytest.fixture
def view(smoke_ok, loaded):
    prepared, exs = loaded
    return attention.explorer(smoke_ok, exs, prepared)


def _overlays(fig):
    """The map panels (an image under a map) of the explorer's figure, in model order."""
    return [ax for ax in fig.axes if len(ax.get_images()) == 2]


def _bars(fig):
    return [ax for ax in fig.axes if ax.patches]


def _count_calls(monkeypatch, exs) -> dict[str, int]:
    calls = {"map": 0, "head_maps": 0}
    for ex in exs.values():
        for method in calls:
            def counted(*args, _f=getattr(ex, method), _m=method, **kwargs):
                calls[_m] += 1
                return _f(*args, **kwargs)
            monkeypatch.setattr(ex, method, counted)
    return calls


def test_titles_and_bars_follow_the_chosen_image(view, preds, loaded):
    classes = loaded[0].classes
    view.browse.value = "all"
    for image_id in [view.image.options[1][1], view.image.options[-1][1]]:
        view.image.value = image_id
        fig = view.figure
        label = int(preds["vit"].loc[image_id, "label"])
        assert fig.get_suptitle() == f"{image_id}: true class {classes[label]}"
        for name, ax, bars in zip(MODELS, _overlays(fig), _bars(fig)):
            row = preds[name].loc[image_id]
            pred, probs = int(row["pred"]), np.asarray(row["probs"])
            assert ax.get_title().startswith(f"{name} {view.methods[name].value}\n")
            assert f"pred {classes[pred]} ({probs[pred]:.0%}, {'ok' if pred == label else 'wrong'})" in ax.get_title()
            top = np.argsort(-probs, kind="stable")[:5]
            assert [t.get_text() for t in bars.get_yticklabels()] == [classes[c] for c in top]
            np.testing.assert_allclose([p.get_width() for p in bars.patches], probs[top], rtol=1e-6)
            green = [p.get_facecolor() == to_rgba(attention.plots.TRUE_COLOUR) for p in bars.patches]
            assert green == [c == label for c in top]  # the true class marked, and only it
            assert ("not in the top 5" in bars.get_title()) is (label not in top)


def test_image_choices_show_the_prediction_files_and_05s_sets(view, preds, smoke_ok, loaded):
    classes = loaded[0].classes
    members = artifacts.read_disagreement_members(smoke_ok)
    view.browse.value = "set:clip_right_vit_wrong"
    ids = [v for _, v in view.image.options]
    ranked = members[members["set"] == "clip_right_vit_wrong"].sort_values("rank")["image_id"].tolist()
    assert ids == ranked and ids
    for text, image_id in view.image.options:
        assert preds["clip"].loc[image_id, "pred"] == preds["clip"].loc[image_id, "label"]  # clip right
        assert preds["vit"].loc[image_id, "pred"] != preds["vit"].loc[image_id, "label"]  # vit wrong
        shown = " · ".join(f"{m} {classes[preds[m].loc[image_id, 'pred']]}" for m in MODELS)
        assert text == f"{image_id} · true {classes[preds['vit'].loc[image_id, 'label']]} · {shown}"
    view.browse.value = "class:2"
    assert {preds["vit"].loc[v, "label"] for _, v in view.image.options} == {2}
    assert view.figure.get_suptitle().endswith(f"true class {classes[2]}")


def test_a_second_visit_to_a_view_recomputes_nothing(view, monkeypatch, loaded):
    calls = _count_calls(monkeypatch, loaded[1])
    first, picture = view.image.value, view.picture.value
    view.image.value = view.image.options[1][1]
    assert calls == {"map": 3, "head_maps": 0}  # one map per model for the new image
    assert view.picture.value != picture
    view.image.value = first
    view.opacity.value = 0.8  # redraws the same maps more opaque
    assert calls == {"map": 3, "head_maps": 0}
    assert all(ax.get_images()[1].get_alpha() == 0.8 for ax in _overlays(view.figure))
    assert view.heads["vit"].disabled
    view.methods["vit"].value = "head"  # one forward gives every head
    assert not view.heads["vit"].disabled and "vit head 0" in _overlays(view.figure)[0].get_title()
    view.heads["vit"].value = 1
    view.heads["vit"].value = 0
    assert calls == {"map": 3, "head_maps": 1}
    assert "vit head 0" in _overlays(view.figure)[0].get_title()
    assert {image_id for image_id, _ in view.cache.inputs} == {first}  # the inputs of the image shown, no other


def test_an_empty_selection_shows_a_message_and_the_next_one_draws_again(smoke_ok, loaded):
    prepared, exs = loaded
    cat = catalogue.load_catalogue(smoke_ok, list(exs), prepared)
    emptied = dataclasses.replace(cat, members=cat.members[cat.members["set"] != "clip_only"],
                                  set_sizes={**cat.set_sizes, "clip_only": 0})
    view = attention.Explorer(emptied, exs, attention.explore.default_methods(smoke_ok, exs), browse="set:clip_only")
    assert view.image.options == () and view.image.value is None
    texts = [t.get_text() for ax in view.figure.axes for t in ax.texts]
    assert texts == ["No test image where clip is right and vit and swin are wrong: pick another set."]
    assert not any(ax.get_images() or ax.patches for ax in view.figure.axes)
    view.browse.value = "all"
    assert view.image.value == cat.test.index[0] and len(_overlays(view.figure)) == 3


def test_an_unknown_method_is_refused_by_name(view, smoke_ok, loaded):
    prepared, exs = loaded
    with pytest.raises(ValueError, match=r"unknown method 'cls' for swin: choose one of rollout, gradcam, "
                                         r"last_stage, relevancy$"):
        attention.explorer(smoke_ok, exs, prepared, methods={"swin": "cls"})
    with pytest.raises(ValueError, match=r"unknown method 'saliency' for vit: choose one of cls, rollout, "
                                         r"relevancy, head$"):
        view.cache.map(view.image.value, "vit", "saliency")
    with pytest.raises(ValueError, match="nothing to browse as 'set:vit_never'"):
        attention.explorer(smoke_ok, exs, prepared, browse="set:vit_never")


def test_first_methods_are_the_most_faithful_by_06s_table(view, smoke_ok, loaded, tmp_path):
    table = pd.read_csv(smoke_ok.subdir("tables") / "attention_faithfulness.csv")
    for name in MODELS:
        rows = table[table["model"] == name]
        assert view.methods[name].value == rows.loc[rows["auc_gain"].idxmax(), "method"]
    elsewhere = config.resolve("smoke", results_dir=str(tmp_path))  # no deletion table there
    assert attention.explore.default_methods(elsewhere, loaded[1]) == {m: "relevancy" for m in MODELS}


def test_executed_06_shows_the_first_view_as_a_figure(smoke_ok):
    nb = nbformat.read(smoke_ok.run_dir / "notebooks" / "06_attention_maps.ipynb", as_version=4)
    outputs = nb.cells[-1].outputs
    assert [o.output_type for o in outputs] == ["display_data", "execute_result"]
    assert "image/png" in outputs[0].data  # the static first view
    assert outputs[1].data["text/plain"] == attention.explore.PLAIN_TEXT  # the widgets, for a reader without them
    assert "application/vnd.jupyter.widget-view+json" in outputs[1].data
    png = smoke_ok.subdir("figures") / "attention_explorer.png"
    assert 20_000 < png.stat().st_size <= 300_000
    assert "figures/attention_explorer.png" in (smoke_ok.run_dir / "REPORT.md").read_text()


def test_any_notebook_can_open_it_with_the_params_alone(smoke_ok):
    view = attention.explorer(smoke_ok)  # loads the three models itself, on the params' device
    assert set(view.explainers) == set(MODELS) and all(ex.device.type == "cpu" for ex in view.explainers.values())
    assert view.browse.value == "set:clip_right_vit_wrong"  # the first gallery set of 06 with members
    assert len(_overlays(view.figure)) == 3 and view.picture.value[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def shell():
    """An IPython shell for display() to publish through (no history file), removed after the test."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    yield InteractiveShell.instance(config=Config({"HistoryManager": {"enabled": False}}))
    InteractiveShell.clear_instance()


def test_the_explorer_shows_as_ipywidgets_shows_its_widgets_with_a_line_for_readers_without(shell, food101):
    """ipywidgets 8 publishes a widget from `_repr_mimebundle_`, 7 (Colab's) from `_ipython_display_`: the
    explorer writes that bundle itself, so it must be the one ipywidgets publishes, whichever is installed."""
    from IPython.display import display
    from IPython.utils.capture import capture_output

    view = attention.Explorer(food101, {}, {})
    with capture_output() as shown:
        display(view.widget)  # ipywidgets' own
    own = shown.outputs[0].data
    assert own["application/vnd.jupyter.widget-view+json"]["model_id"] == view.widget.model_id
    assert view._repr_mimebundle_() == {**own, "text/plain": attention.explore.PLAIN_TEXT}


# -- at Food-101's size: 25,250 test images, 101 classes -------------------------------------------------

@pytest.fixture(scope="module")
def food101(tmp_path_factory):
    return fabricate(tmp_path_factory.mktemp("catalogue"))


@pytest.fixture
def big(food101):
    """The explorer over the made-up catalogue, without models (explainers={}: no maps, the image and its title)."""
    return attention.Explorer(food101, {}, {}, seed=0)


def _state_bytes(view) -> int:
    """What the widgets leave in an executed notebook's metadata: every model's whole state, defaults included,
    as nbclient stores it (ipywidgets' own embedding of the explorer's widgets)."""
    return len(json.dumps(ipywidgets.embed.dependency_state(view.widget, drop_defaults=False)))


def test_at_food101s_size_no_list_is_long_and_a_class_pages_through_its_images(big, food101):
    assert big.browse.value == "set:clip_right_vit_wrong"  # the first gallery set with members
    assert len(big.browse.options) == 1 + 3 + 101  # all, the three sets, the classes: not the images
    assert big.page.max == -(-food101.set_sizes["clip_right_vit_wrong"] // catalogue.PAGE_SIZE)
    big.browse.value = "class:57"
    in_class = food101.test.index[food101.test["label"] == 57].tolist()
    assert [v for _, v in big.image.options] == in_class[:catalogue.PAGE_SIZE] and big.image.value == in_class[0]
    assert (big.page.value, big.page.max) == (1, 5)
    name = food101.classes[57]
    assert big.header.value == f"<b>{in_class[0]} · true class {name} · image 1 of 250 in class {name} (page 1 of 5)</b>"
    assert big.figure.get_suptitle() == f"{in_class[0]}: true class {name}"
    big.page.value = 5
    assert [v for _, v in big.image.options] == in_class[200:] and big.image.value == in_class[200]
    assert "image 201 of 250" in big.header.value
    big.browse.value = "all"
    assert big.page.max == 505 and len(big.image.options) == catalogue.PAGE_SIZE


def test_an_id_typed_in_goes_to_that_image_in_its_class_and_an_unknown_one_is_named(big, food101):
    big.browse.value = "class:3"
    target = food101.test.index[food101.test["label"] == 90][170]  # another class, its page 4
    big.search.value = f"  {target} "
    assert big.browse.value == "class:90" and big.image.value == target and big.page.value == 4
    assert target in [v for _, v in big.image.options] and len(big.image.options) == catalogue.PAGE_SIZE
    assert big.header.value.startswith(f"<b>{target} · true class {food101.classes[90]} · image 171 of 250")
    assert big.figure.get_suptitle() == f"{target}: true class {food101.classes[90]}"
    big.search.value = "no_such/1"
    assert big.header.value == "<b>No test image has the id 'no_such/1'.</b>"
    assert big.image.value == target  # nothing else moved
    big.browse.value = "all"
    big.search.value = target  # in the selection shown: it stays, on the right page
    assert big.browse.value == "all" and big.page.value == (90 * 250 + 170) // catalogue.PAGE_SIZE + 1
    assert big.search.value == ""  # cleared once found: typing the same id again finds it again
    big.browse.value = "class:3"
    big.search.value = target
    assert big.browse.value == "class:90" and big.image.value == target
    big.search.value = "<b>x"
    assert big.header.value == "<b>No test image has the id '&lt;b&gt;x'.</b>"


def test_a_class_opens_by_its_name_or_any_spelling_of_its_index(food101):
    name = food101.classes[7]
    for browse in (f"class:{name}", "class:007", "class:7"):
        view = attention.Explorer(food101, {}, {}, browse=browse)
        assert view.browse.value == "class:7" and view.catalogue.label(view.image.value) == 7
    with pytest.raises(ValueError, match="nothing to browse as 'class:pizzza'.*'class:<name>'"):
        attention.Explorer(food101, {}, {}, browse="class:pizzza")


def test_a_view_that_cannot_be_drawn_says_why_and_the_next_one_draws(food101, monkeypatch):
    view = attention.Explorer(food101, {}, {}, browse="class:4")
    broken, fine = view.ids[1], view.ids[2]
    drawn = attention.explore.MapCache.view

    def view_or_fail(self, image_id, *args):
        if image_id == broken:
            raise OSError("image file is truncated")
        return drawn(self, image_id, *args)

    monkeypatch.setattr(attention.explore.MapCache, "view", view_or_fail)
    view.image.value = broken
    assert view.header.value.startswith(f"<b>{broken} · ")
    texts = [t.get_text() for ax in view.figure.axes for t in ax.texts]
    assert texts == [f"{broken} could not be drawn: OSError: image file is truncated"]
    view.image.value = fine
    assert view.figure.get_suptitle() == f"{fine}: true class {food101.classes[4]}"


def test_a_random_image_is_drawn_from_the_selection_and_shown_on_its_page(big, food101):
    big.browse.value = "set:swin_only"
    members = food101.members[food101.members["set"] == "swin_only"].sort_values("rank")["image_id"].tolist()
    seen = set()
    for _ in range(5):
        big.random.click()
        image_id = big.image.value
        assert image_id in members and image_id in [v for _, v in big.image.options]
        assert big.page.value == members.index(image_id) // catalogue.PAGE_SIZE + 1
        assert f"image {members.index(image_id) + 1:,} of {len(members):,} in set swin_only" in big.header.value
        seen.add(image_id)
    assert len(seen) > 1
    first, second = (attention.Explorer(food101, {}, {}, browse="set:swin_only", seed=0) for _ in range(2))
    first.random.click()
    second.random.click()
    assert first.image.value == second.image.value  # the same seed, the same draws


def test_an_empty_set_says_so_at_food101s_size(big):
    big.browse.value = "set:vit_only"
    assert big.image.options == () and big.image.value is None and big.page.max == 1
    assert big.header.value == "<b>No test image where vit is right and swin and clip are wrong: pick another set.</b>"


@dataclasses.dataclass
class _Methods:
    """What the explorer's controls read of an explainer: its name, methods and heads (no model)."""

    name: str
    view_methods: tuple[str, ...]
    num_heads: int

    def check_method(self, method: str) -> str:
        return method


def test_the_saved_widget_state_stays_small_at_food101s_size(food101, tmp_path, monkeypatch):
    """Every control of 06's explorer (three models' methods, two head sliders), browsing all 25,250 images."""
    exs = {"vit": _Methods("vit", ("cls", "rollout", "relevancy", "head"), 12),
           "swin": _Methods("swin", ("rollout", "gradcam", "last_stage", "relevancy"), 24),
           "clip": _Methods("clip", ("cls", "rollout", "relevancy", "head"), 12)}
    monkeypatch.setattr(attention.explore.MapCache, "view",
                        lambda self, image_id, *a: attention.plots.text_panel(image_id))  # no models to draw maps
    view = attention.Explorer(food101, exs, {n: "relevancy" for n in exs}, browse="all")
    assert len(view.picture.value) > 1000  # a live view carries its picture
    view.save_static(config.resolve("smoke", results_dir=str(tmp_path)))  # as notebook 06 does under papermill
    assert view.picture.value == b""  # the saved document shows the static figure instead
    assert (tmp_path / "smoke" / "figures" / "attention_explorer.png").exists()
    assert _state_bytes(view) <= 50_000
