"""The attention explorer: any test image, the three models' predictions and maps side by side (ipywidgets).

    view = attention.explorer(params, explainers)   # in 06; in any notebook once 01-05 ran: explorer(params)
    view.save_static(params)                         # the first view as figures/attention_explorer.png
    view                                             # the widgets

Browse a disagreement set of 05, one true class or all test images, a page of PAGE_SIZE images at a time, and
pick an image; or type an image id; or draw a random image of the selection. Per model a method (and a head),
and the overlay's opacity. Maps are computed when a view first needs them, on the explainers' device, and
cached (`MapCache`). Core ipywidgets only, shown the same way under ipywidgets 7 (Colab) and 8 (JupyterLab):
the picture is a PNG in an `Image` widget.
"""
from __future__ import annotations

import contextlib
import html
import textwrap
from dataclasses import dataclass, field
from typing import Iterator

import ipywidgets as widgets
from ipywidgets.widgets.widget_description import DescriptionStyle  # not exported by ipywidgets 8
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from foodlib import figures, frontend, runtime
from foodlib.attention import catalogue as cat
from foodlib.attention import plots
from foodlib.attention.analysis import best_methods
from foodlib.attention.explain import METHOD_TEXT, Explainer, load_eval_images, load_explainers
from foodlib.config import Params
from foodlib.data.loader import decode_source
from foodlib.data.prepare import Prepared, load_prepared

FAITHFULNESS_FILE = "attention_faithfulness.csv"  # 06's deletion table
# Without 06's deletion table: class-specific relevancy, which Chefer et al. (2021) found the most faithful
# of the attention-based maps in their perturbation tests; every model has it.
FALLBACK_METHOD = "relevancy"
PICTURE_DPI = 100  # the widget's PNG: about 1100 px wide, sharp on a laptop screen, quick to render
STATIC_NAME = "attention_explorer"
PLAIN_TEXT = ("Attention explorer: run this notebook in JupyterLab or Colab to browse any test image "
              "(the figure above is its first view).")


def default_methods(params: Params, explainers: dict[str, Explainer],
                    methods: dict[str, str] | None = None) -> dict[str, str]:
    """Per model, the method first shown: `methods` where given, else the largest deletion-AUC gain in 06's
    table (tables/attention_faithfulness.csv), else FALLBACK_METHOD. An unknown method is refused by name."""
    path = params.subdir("tables") / FAITHFULNESS_FILE
    best = best_methods(pd.read_csv(path)) if path.exists() else {}
    unknown = set(methods or {}) - set(explainers)
    if unknown:
        raise ValueError(f"no model {sorted(unknown)}: the models are {', '.join(explainers)}")
    return {name: ex.check_method((methods or {}).get(name) or best.get(name, FALLBACK_METHOD))
            for name, ex in explainers.items()}


@dataclass
class MapCache:
    """Maps computed on demand, kept per (image, model, method, head) (each a few KB: the model's token grid);
    inputs (about 2 MB a model) kept for the image last shown only."""

    catalogue: cat.Catalogue
    explainers: dict[str, Explainer]
    maps: dict[tuple, torch.Tensor] = field(default_factory=dict)  # -> (h, w) on the CPU
    inputs: dict[tuple[str, str], torch.Tensor] = field(default_factory=dict)  # -> (1, 3, S, S)

    def input(self, image_id: str, model_name: str) -> torch.Tensor:
        """The image through the model's own eval transform, as it was scored: (1, 3, S, S)."""
        key = (image_id, model_name)
        if key not in self.inputs:
            if any(shown != image_id for shown, _ in self.inputs):
                self.inputs.clear()  # another image: a few hundred random draws would otherwise hold gigabytes
            self.inputs[key] = load_eval_images([self.catalogue.path(image_id)], self.explainers[model_name])
        return self.inputs[key]

    def image(self, image_id: str, model_name: str) -> np.ndarray:
        """The model's own input crop as an (S, S, 3) picture."""
        ex = self.explainers[model_name]
        return plots.to_image(self.input(image_id, model_name)[0], ex.mean, ex.std)

    def map(self, image_id: str, model_name: str, method: str, head: int = 0) -> torch.Tensor:
        """(h, w) map of `model_name` by `method` for the class it predicted; `head` only for 'head'."""
        ex = self.explainers[model_name]
        ex.check_method(method)
        key = (image_id, model_name, method, head if method == "head" else None)
        if key not in self.maps:
            x = self.input(image_id, model_name).to(ex.device)
            if method == "head":  # one forward gives every head: keep them all
                for h, m in enumerate(ex.head_maps(x)[0]):
                    self.maps[(image_id, model_name, "head", h)] = m
            else:
                target = torch.tensor([self.catalogue.prediction(model_name, image_id)[0]], device=ex.device)
                self.maps[key] = ex.map(x, method, target)[0]
        if key not in self.maps:
            raise ValueError(f"{model_name} has {ex.num_heads} heads (0 to {ex.num_heads - 1}), not head {head}")
        return self.maps[key]

    def view(self, image_id: str, methods: dict[str, str], heads: dict[str, int], alpha: float):
        """The figure of one image: the image, each model's map (by its method and head) on its own input
        crop with its prediction, and each model's top-5 with the true class marked."""
        c, classes = self.catalogue, self.catalogue.classes
        label = c.label(image_id)
        panels, bars = [], []
        for name, ex in self.explainers.items():
            method, head = ex.check_method(methods[name]), heads.get(name, 0)
            pred, conf = c.prediction(name, image_id)
            shown = f"{method} {head}" if method == "head" else method
            panels.append({"image": self.image(image_id, name), "map": self.map(image_id, name, method, head),
                           "title": f"{name} {shown}\n" + plots.label_text(classes, label, pred, conf)})
            top, probs = c.top5(name, image_id)
            bars.append({"names": [classes[k] for k in top], "probs": probs,
                         "true_at": top.index(label) if label in top else None, "title": f"{name} top-5"})
        source = np.asarray(decode_source(c.path(image_id)))  # the test image as decoded from its source file
        return plots.explorer_view(source, panels, bars, f"{image_id}: true class {classes[label]}", alpha)


class Explorer:
    """The widgets and the view they draw. `figure` is the figure last drawn, `first` the first one."""

    def __init__(self, catalogue: cat.Catalogue, explainers: dict[str, Explainer], methods: dict[str, str],
                 browse: str | None = None, opacity: float = 0.5, seed: int = 0):
        self.catalogue, self.explainers = catalogue, explainers
        self.cache = MapCache(catalogue, explainers)
        self.rng = np.random.default_rng(seed)  # the random-image button's draws
        self._hold = False
        key = catalogue.canonical(browse or catalogue.default_key())
        self.ids = catalogue.select(key)  # refuses an unknown key by name
        self._build(key, methods, opacity)
        self.figure = None
        self.draw()
        self.first = self.figure

    def _build(self, key: str, methods: dict[str, str], opacity: float) -> None:
        c = self.catalogue
        # Layouts and description styles shared by the widgets: each widget would otherwise bring its own, and an
        # executed notebook stores every widget's whole state (the executed 06 is read, not only run).
        plain, wide, narrow = widgets.Layout(), widgets.Layout(width="560px"), widgets.Layout(width="150px")
        label = DescriptionStyle(description_width="initial")
        self.browse = widgets.Dropdown(options=c.browse_options(), value=key, description="browse", style=label,
                                       layout=wide)
        self.image = widgets.Dropdown(options=self._image_options(1), description="image", style=label, layout=wide)
        self.page = widgets.BoundedIntText(1, min=1, max=cat.pages(self.ids), description="page", style=label,
                                           layout=narrow)
        self.search = widgets.Text(placeholder="an image id, e.g. " + (c.test.index[0] if len(c.test) else ""),
                                   description="find id", continuous_update=False, layout=wide,
                                   style={"description_width": "initial"})  # a TextStyle in ipywidgets 8
        self.random = widgets.Button(description="random image", tooltip="a random image of this selection",
                                     layout=narrow)
        self.header, self.picture = widgets.HTML(layout=plain), widgets.Image(format="png", layout=plain)
        self.methods = {name: widgets.Dropdown(options=[(METHOD_TEXT[m], m) for m in ex.view_methods],
                                               value=ex.check_method(methods[name]), description=name, style=label,
                                               layout=plain) for name, ex in self.explainers.items()}
        self.heads = {name: widgets.IntSlider(0, min=0, max=ex.num_heads - 1, description=f"{name} head",
                                              disabled=methods[name] != "head", layout=plain, continuous_update=False)
                      for name, ex in self.explainers.items() if "head" in ex.view_methods}
        self.opacity = widgets.FloatSlider(opacity, min=0.0, max=1.0, step=0.05, description="opacity", layout=plain,
                                           continuous_update=False)  # one draw when let go, not one per step
        self.browse.observe(self._on_browse, "value")
        self.page.observe(self._on_page, "value")
        self.search.observe(self._on_search, "value")
        self.random.on_click(self._on_random)
        for w in (self.image, *self.methods.values(), *self.heads.values(), self.opacity):
            w.observe(self._on_change, "value")
        per_model = [widgets.VBox([w, *([self.heads[n]] if n in self.heads else [])], layout=plain)
                     for n, w in self.methods.items()]
        rows = [widgets.HBox(r, layout=plain) for r in ([self.image, self.page], [self.search, self.random], per_model)]
        self.widget = widgets.VBox([self.browse, *rows, self.opacity, self.header, self.picture], layout=plain)

    def _image_options(self, page: int) -> list[tuple[str, str]]:
        return [(self.catalogue.image_text(i), i) for i in cat.page_ids(self.ids, page)]

    @contextlib.contextmanager
    def _held(self) -> Iterator[None]:
        """Changes made inside draw nothing (one draw after them)."""
        self._hold = True
        try:
            yield
        finally:
            self._hold = False

    def go(self, key: str, image_id: str | None = None) -> None:
        """Show `image_id` (default: the first) of the selection `key`: one draw, whatever had to change."""
        with self._held():
            if key != self.browse.value:
                self.browse.value = key
            self.ids = self.catalogue.select(key)
            self.page.max = cat.pages(self.ids)
            self.page.value = cat.page_of(self.ids, image_id) if image_id else 1
            options = self._image_options(self.page.value)
            self.image.options = options
            self.image.value = image_id or (options[0][1] if options else None)  # None: an empty selection
        self.draw()

    def _on_browse(self, change) -> None:
        if not self._hold:
            self.go(change["new"])

    def _on_page(self, change) -> None:
        if not self._hold:
            self.go(self.browse.value, cat.page_ids(self.ids, change["new"])[0] if self.ids else None)

    def _on_search(self, change) -> None:
        image_id = change["new"].strip()
        key = self.catalogue.find(image_id, self.browse.value, self.ids) if image_id else None
        if key is None:
            if image_id:
                self.header.value = f"<b>No test image has the id {html.escape(repr(image_id), quote=False)}.</b>"
            return
        self.go(key, image_id)
        self.search.value = ""  # found and shown: the same id typed again later finds it again

    def _on_random(self, _button=None) -> None:
        if self.ids:
            self.go(self.browse.value, self.ids[int(self.rng.integers(len(self.ids)))])

    def _on_change(self, change) -> None:
        for name, slider in self.heads.items():
            slider.disabled = self.methods[name].value != "head"
        if not self._hold:
            self.draw()

    def title(self) -> str:
        """Where the shown image stands: its id, true class and place in the selection (or why there is none)."""
        key, image_id = self.browse.value, self.image.value
        if image_id is None:
            return self.catalogue.empty_text(key)
        page = f" (page {self.page.value} of {self.page.max})" if self.page.max > 1 else ""
        return (f"{image_id} · true class {self.catalogue.classes[self.catalogue.label(image_id)]} · "
                f"image {self.ids.index(image_id) + 1:,} of {len(self.ids):,} in {self.catalogue.describe(key)}{page}")

    def draw(self) -> None:
        """Draw the current view into the picture (the figure is kept in `figure`, closed to pyplot). A view
        that cannot be drawn (an unreadable image, out of memory) shows why in the picture, under its header."""
        self.header.value = f"<b>{html.escape(self.title(), quote=False)}</b>"
        if self.image.value is None:
            fig = plots.text_panel(self.catalogue.empty_text(self.browse.value), "attention explorer")
        else:
            try:
                fig = self.cache.view(self.image.value, {n: w.value for n, w in self.methods.items()},
                                      {n: w.value for n, w in self.heads.items()}, self.opacity.value)
            except Exception as err:  # noqa: BLE001 (a widget callback: the error would go to a log nobody reads)
                if self.figure is None:
                    raise  # the first view: the notebook cell shows the error itself
                text = f"{self.image.value} could not be drawn: {type(err).__name__}: {err}"
                fig = plots.text_panel(textwrap.fill(text, 100), "attention explorer")
        self.picture.value = figures.png_bytes(fig, PICTURE_DPI)
        plt.close(fig)  # else the inline backend would show it again under the next cell run
        self.figure = fig

    def save_static(self, params: Params) -> None:
        """Save the first view as figures/attention_explorer.png. Where no one watches the widgets live
        (papermill, nbconvert) it is shown as a figure, so the executed copy and REPORT.md carry it, and the
        widget's own copy of the picture is dropped: the document would otherwise hold it twice."""
        live = frontend.interactive()
        figures.save_figure(self.first, STATIC_NAME, params, show=not live)
        if not live:
            self.picture.value = b""

    def _repr_mimebundle_(self, **kwargs):
        # Written out rather than delegated: ipywidgets 8 widgets have _repr_mimebundle_, ipywidgets 7 (Colab)
        # display through _ipython_display_; both frontends read this same view reference.
        view = {"version_major": 2, "version_minor": 0, "model_id": self.widget.model_id}
        return {"text/plain": PLAIN_TEXT, "application/vnd.jupyter.widget-view+json": view}


def explorer(params: Params, explainers: dict[str, Explainer] | None = None, prepared: Prepared | None = None,
             methods: dict[str, str] | None = None, browse: str | None = None, device: str | None = None) -> Explorer:
    """The explorer over a run's test images, in any notebook once 01-05 have run.

    explainers: 06's (`load_explainers`), else loaded here on `device` (default: the params' device);
    methods: per model, the method first shown (default: the most faithful by 06's deletion table);
    browse: 'all', 'set:<name>' or 'class:<index>' (default: the first non-empty gallery set of 06).
    """
    prepared = prepared or load_prepared(params)
    if explainers is None:
        explainers = load_explainers(params, prepared.classes, device=device or runtime.resolve_device(params.device))
    catalogue = cat.load_catalogue(params, list(explainers), prepared)
    return Explorer(catalogue, explainers, default_methods(params, explainers, methods), browse, seed=params.seed)
