"""The attention explorer: any test image, the three models' predictions and maps side by side (ipywidgets).

    view = attention.explorer(params, explainers)   # in 06; in any notebook once 01-05 ran: explorer(params)
    view.save_static(params)                         # the first view as figures/attention_explorer.png
    view                                             # the widgets

Choose what to browse (a disagreement set of 05, all test images, one true
class), then an image; per model a method (and a head), and the overlay's
opacity. Maps are computed when a view first needs them, on the explainers'
device, and cached (`browse.MapCache`). Core ipywidgets only: the picture is a
PNG in an `Image` widget, so JupyterLab and Colab draw it alike.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pandas as pd

from foodlib import figures, runtime
from foodlib.attention import plots
from foodlib.attention.analysis import best_methods
from foodlib.attention.browse import METHOD_TEXT, Catalogue, MapCache, check_method, load_catalogue, view_methods
from foodlib.attention.explain import Explainer, load_explainers
from foodlib.config import Params
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
    chosen = {}
    for name, ex in explainers.items():
        method = (methods or {}).get(name) or best.get(name, FALLBACK_METHOD)
        chosen[name] = check_method(name, method, ex)
    unknown = set(methods or {}) - set(explainers)
    if unknown:
        raise ValueError(f"no model {sorted(unknown)}: the models are {', '.join(explainers)}")
    return chosen


class Explorer:
    """The widgets and the view they draw. `figure` is the figure last drawn, `first` the first one."""

    def __init__(self, catalogue: Catalogue, explainers: dict[str, Explainer], methods: dict[str, str],
                 browse: str | None = None, opacity: float = 0.5):
        self.catalogue, self.explainers = catalogue, explainers
        self.cache = MapCache(catalogue, explainers)
        self._hold = False
        wide = {"style": {"description_width": "initial"}, "layout": widgets.Layout(width="560px")}
        key = browse or catalogue.default_key()
        catalogue.select(key)  # refuses an unknown key by name
        self.browse = widgets.Dropdown(options=catalogue.browse_options(), value=key, description="browse", **wide)
        self.image = widgets.Dropdown(options=self._image_options(), description="image", **wide)
        self.methods = {name: widgets.Dropdown(options=[(METHOD_TEXT[m], m) for m in view_methods(ex)],
                                               value=check_method(name, methods[name], ex), description=name)
                        for name, ex in explainers.items()}
        self.heads = {name: widgets.IntSlider(0, min=0, max=ex.num_heads - 1, description=f"{name} head",
                                              disabled=methods[name] != "head")
                      for name, ex in explainers.items() if "head" in view_methods(ex)}
        self.opacity = widgets.FloatSlider(opacity, min=0.0, max=1.0, step=0.05, description="opacity")
        self.picture = widgets.Image(format="png")
        self.browse.observe(self._on_browse, "value")
        for w in (self.image, *self.methods.values(), *self.heads.values(), self.opacity):
            w.observe(self._on_change, "value")
        per_model = [widgets.VBox([w, *([self.heads[n]] if n in self.heads else [])]) for n, w in self.methods.items()]
        self.widget = widgets.VBox([self.browse, self.image, widgets.HBox(per_model), self.opacity, self.picture])
        self.figure = None
        self.draw()
        self.first = self.figure

    def _image_options(self) -> list[tuple[str, str]]:
        return [(self.catalogue.image_text(i), i) for i in self.catalogue.select(self.browse.value)]

    @contextlib.contextmanager
    def _held(self) -> Iterator[None]:
        """Changes made inside draw nothing (one draw after them)."""
        self._hold = True
        try:
            yield
        finally:
            self._hold = False

    def _on_browse(self, change) -> None:
        options = self._image_options()
        with self._held():
            self.image.options = options
            self.image.value = options[0][1] if options else None  # (left at None after an empty selection)
        self.draw()

    def _on_change(self, change) -> None:
        for name, slider in self.heads.items():
            slider.disabled = self.methods[name].value != "head"
        if not self._hold:
            self.draw()

    def draw(self) -> None:
        """Draw the current view into the picture (the figure is kept in `figure`, closed to pyplot)."""
        fig = self.view(self.image.value, {n: w.value for n, w in self.methods.items()},
                        {n: w.value for n, w in self.heads.items()}, self.opacity.value)
        self.picture.value = figures.png_bytes(fig, PICTURE_DPI)
        plt.close(fig)  # else the inline backend would show it again under the next cell run
        self.figure = fig

    def view(self, image_id: str | None, methods: dict[str, str], heads: dict[str, int], alpha: float):
        """The figure of one view: `image_id` (None: the empty selection's message), a method (and head) per model."""
        if image_id is None:
            return plots.text_panel(self.catalogue.empty_text(self.browse.value), "attention explorer")
        cat, classes = self.catalogue, self.catalogue.classes
        label = cat.label(image_id)
        panels, bars = [], []
        for name in self.explainers:
            method, head = check_method(name, methods[name], self.explainers[name]), heads.get(name, 0)
            pred, conf = cat.prediction(name, image_id)
            shown = f"{method} {head}" if method == "head" else method
            panels.append({"image": self.cache.image(image_id, name),
                           "map": self.cache.map(image_id, name, method, head),
                           "title": f"{name} {shown}\n" + plots.label_text(classes, label, pred, conf)})
            top, probs = cat.top5(name, image_id)
            bars.append({"names": [classes[c] for c in top], "probs": probs,
                         "true_at": top.index(label) if label in top else None, "title": f"{name} top-5"})
        return plots.explorer_view(self.cache.source(image_id), panels, bars,
                                   f"{image_id}: true class {classes[label]}", alpha)

    def save_static(self, params: Params) -> None:
        """Save the first view as figures/attention_explorer.png; shown in the notebook where no one watches the
        widgets live (papermill, nbconvert), so the executed copy and REPORT.md carry it."""
        figures.save_figure(self.first, STATIC_NAME, params, show=not runtime.interactive_frontend())

    def _repr_mimebundle_(self, **kwargs):
        data = self.widget._repr_mimebundle_(**kwargs)
        return {**data, "text/plain": PLAIN_TEXT}  # what a reader without widgets sees, not a widget repr


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
    catalogue = load_catalogue(params, list(explainers), prepared)
    return Explorer(catalogue, explainers, default_methods(params, explainers, methods), browse)
