"""The run set against the published figures: each named once in the registry, compared with a verdict."""
from __future__ import annotations

import re

import pandas as pd
import pytest

from foodlib import compare, config, registry

PEDRO = "PedroSampaio/vit-base-patch16-224-in21k-food101-16-7"


def _headline(**top1: tuple[float, float, float]) -> pd.DataFrame:
    return pd.DataFrame([{"model": m, "n": 25_250, "top1": t, "top1_ci_low": lo, "top1_ci_high": hi}
                         for m, (t, lo, hi) in top1.items()])


def test_every_registered_figure_has_a_source_and_a_protocol():
    figures = [*registry.published("vit"), *registry.published("swin"),
               *(f for name in ("ViT-B/32", "RN50", "ViT-B/16", "ViT-L/14") for f in registry.published("clip", name))]
    assert len(figures) == 8
    for f in figures:
        assert 0.5 < f.top1 < 1 and f.source and "25,250" in f.protocol
    assert registry.published("vit")[0].checkpoint == PEDRO and registry.published("clip", "no-such") == ()


def test_verdicts_within_below_and_above_the_interval():
    params = config.resolve("full")
    vit, swin = registry.published("vit")[0].top1, registry.published("swin")[0].top1
    clip_figures = registry.published("clip", "ViT-B/32")
    table = compare.published_table(_headline(vit=(vit + 0.001, vit - 0.003, vit + 0.005),
                                              swin=(swin - 0.02, swin - 0.024, swin - 0.016),
                                              clip=(0.90, 0.896, 0.904)), params)
    assert list(table["model"]) == ["vit", "swin"] + ["clip"] * len(clip_figures)
    assert table["verdict"].tolist()[:2] == ["within the interval", "below by 2.0 points"]
    for (_, row), fig in zip(table.iloc[2:].iterrows(), clip_figures):
        assert row["published_top1"] == fig.top1 and row["source"] == fig.source
        assert row["verdict"] == f"above by {100 * (0.90 - fig.top1):.1f} points"
    assert "fine-tuned here: 7 epochs" in table["this_run"][0] and "prompt set 'food'" in table["this_run"][2]


def test_synthetic_runs_are_never_compared():
    table = compare.published_table(_headline(vit=(0.9, 0.8, 0.95), clip=(0.66, 0.6, 0.7)),
                                    config.resolve("smoke"))  # tiny CLIP: no published figure either
    assert set(table["verdict"]) == {"not comparable: synthetic data"}
    rehearsal = compare.published_table(_headline(vit=(0.01, 0.0, 0.02)), config.resolve("rehearsal"))
    assert rehearsal["verdict"].tolist() == ["not comparable: synthetic data"]


def test_a_published_checkpoint_reproduces_its_card_and_an_unknown_one_has_no_figure():
    card = registry.published("vit")[0].top1
    row = compare.published_table(_headline(vit=(card, card - 0.004, card + 0.004)),
                                  config.resolve("full", vit_finetuned=PEDRO)).iloc[0]
    assert "reproduces this card" in row["this_run"] and row["verdict"] == "within the interval"
    other = compare.published_table(_headline(vit=(0.85, 0.84, 0.86)),
                                    config.resolve("full", vit_finetuned="someone/else")).iloc[0]
    assert pd.isna(other["published_top1"]) and other["verdict"].startswith("no published figure")


def test_a_subset_trained_fine_tune_is_not_compared_but_zero_shot_is():
    clip = registry.published("clip", "ViT-B/32")[0].top1
    table = compare.published_table(_headline(vit=(0.8, 0.78, 0.82), clip=(clip, clip - 0.01, clip + 0.01)),
                                    config.resolve("quick"))
    assert table["verdict"].iloc[0] == "not comparable: trained on a subset (60 images per class)"
    assert table["verdict"].iloc[1] == "within the interval"


def test_the_smoke_report_shows_the_standing_first(smoke_ok):
    table = pd.read_csv(smoke_ok.subdir("tables") / "published_comparison.csv")
    assert set(table["model"]) == set(registry.artifact_names())  # the main models and their linear probes
    assert set(table["verdict"]) == {"not comparable: synthetic data"}
    report = (smoke_ok.run_dir / "REPORT.md").read_text()
    first = report.split("\n## ")[1]
    assert first.startswith("How this run stands") and "not comparable: synthetic data" in first


@pytest.mark.parametrize("data_source,caveat", [("synthetic", "not comparable"), ("hub", "not measured here")])
def test_the_note_a_notebook_prints_says_whose_figure_it_is(data_source, caveat):
    note = registry.published_note("vit", data_source)
    assert f"{100 * registry.published('vit')[0].top1:.1f}% top-1" in note and caveat in note and PEDRO in note


def _all_figures() -> list[registry.Published]:
    names = ("ViT-B/32", "RN50", "ViT-B/16", "ViT-L/14")
    return [*registry.published("vit"), *registry.published("swin"),
            *(f for n in names for v in (None, "linear") for f in registry.published("clip", n, v))]


def test_the_probes_published_figures_are_named_with_their_protocol():
    (probe,) = registry.published("clip", "ViT-L/14", "linear")
    assert probe.top1 == 0.952 and "Table 10" in probe.source and "validation" in probe.protocol
    assert registry.published("clip", "ViT-B/32", "linear") == () and registry.published("vit", variant="linear") == ()
    assert "No published Food-101 figure is registered for clip_linear ViT-B/32" in registry.published_note(
        "clip", "hub", "ViT-B/32", variant="linear")


def test_every_figure_a_notebook_says_to_expect_is_the_registrys():
    """The markdown states what to expect next to each result ("about **90.8% top-1**"), as the ViT colab writes
    "Should be ~97.7%": every such figure must be one the registry holds, and 02-05 must each state one."""
    import nbformat

    from foodlib import paths

    known = {f"{100 * f.top1:.1f}" for f in _all_figures()}
    stated = {}
    for path in sorted((paths.project_root() / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
        stated[path.name[:2]] = re.findall(r"\*\*(\d+\.\d)% top-1\*\*", text)
    assert all(stated[nb] for nb in ("02", "03", "04", "05")), stated
    unknown = {nb: [v for v in values if v not in known] for nb, values in stated.items()}
    assert not any(unknown.values()), f"figures not in the registry: {unknown} (it holds {sorted(known)})"
    assert {"90.8", "88.6", "84.4"} <= {v for values in stated.values() for v in values}
