"""Assemble `results/<profile>/REPORT.md` from the artifacts a run wrote (nothing retyped).

Each section collects the tables (`tables/*.md`) and figures (`figures/*.png`)
whose names match its patterns, in a fixed order, with relative links that
render on GitHub. A section with nothing to show says which notebook makes it.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from foodlib import artifacts, registry
from foodlib.config import Params


@dataclass(frozen=True)
class Section:
    title: str
    notebook: str
    intro: str
    patterns: tuple[str, ...]  # regexes on file stems, in display order


def _names(models: list[str]) -> str:
    return "|".join(re.escape(m) for m in models)


def _sections() -> tuple[Section, ...]:
    """The report's sections; the model sections' titles, notebooks and file patterns come from the registry."""
    tuned = registry.trainable()
    zero = [n for n in registry.available() if n not in tuned]
    tuned_names, zero_names = _names(tuned), _names(zero)
    return (
        Section("How this run stands", "05_comparison",
                "Each model's measured top-1 (95% Wilson interval) beside the published Food-101 figures named in the "
                "registry, with their source and protocol, and a verdict.",
                (r"published_comparison",)),
        Section("Data", "01_data_prep",
                "Images per split and class, the files that were converted or left out, and a sample of every class.",
                (r"data_counts", r"problem_files", r"data_samples", r"data_sizes", r"data_.*")),
        Section("Fine-tuning: " + " and ".join(registry.spec(n).title for n in tuned),
                " / ".join(registry.spec(n).notebook for n in tuned),
                "Training curves (train/validation loss, validation accuracy per epoch) of the full fine-tunes.",
                (rf"({tuned_names})_curves", rf"({tuned_names})_history", rf"({tuned_names})_(?!linear).*")),
        Section("Zero-shot: " + " and ".join(registry.spec(n).title for n in zero),
                " / ".join(registry.spec(n).notebook for n in zero),
                "Zero-shot accuracy per prompt set on the same test images.",
                (rf"({zero_names})_prompts", rf"({zero_names})_(?!linear).*")),
        Section("Linear probes and few-shot", "05_comparison",
                "The same probe for every backbone (a logistic regression on its frozen features, its L2 strength "
                "chosen on validation): what the features give against what training or prompts add, and how the "
                "probes grow with labelled images per class beside CLIP's zero-shot head.",
                (r"features_vs_training", r"fewshot", r".*_linear_sweep", r".*_linear_fewshot.*")),
        Section("Comparison", "05_comparison",
                "Accuracy with 95% confidence intervals, whether the differences are significant, where the models "
                "disagree, which classes each finds hard, and how well calibrated they are.",
                (r"comparison_headline", r"comparison_accuracy", r"comparison_pairwise", r"disagreement_counts",
                 r"disagreement_upset", r"disagreements", r"class_gaps", r"per_class_accuracy", r"confused_pairs",
                 r"confusion_top_classes", r"calibration", r"reliability", r"reliability_bins", r"comparison_.*")),
        Section("Attention maps", "06_attention_maps",
                "Where each model looks on images where they disagree, and a deletion test of how faithful each map is.",
                (r"attention_faithfulness", r".*faithful.*", r"attention_.*", r"attn_.*", r"deletion.*")),
        Section("Positional embeddings", "07_positional_embeddings",
                "Cosine similarity of learned position embeddings (ViT, CLIP) and Swin V2's relative position bias.",
                (r"posembed_structure", r"posembed_.*", r"pos_.*")),
    )


SECTIONS = _sections()


def _listing(folder: Path, suffix: str) -> list[str]:
    return sorted(p.stem for p in folder.glob(f"*{suffix}")) if folder.exists() else []


def _assign(stems: list[str]) -> dict[str, list[str]]:
    """Section title -> stems, each stem in the first section whose pattern matches it, pattern order kept."""
    out: dict[str, list[str]] = {s.title: [] for s in SECTIONS}
    taken: set[str] = set()
    for section in SECTIONS:
        for pattern in section.patterns:
            for stem in stems:
                if stem not in taken and re.fullmatch(pattern, stem):
                    out[section.title].append(stem)
                    taken.add(stem)
    out["Other artifacts"] = [s for s in stems if s not in taken]
    return out


def efficiency_table(params: Params) -> pd.DataFrame:
    """Parameters, training time and throughput of every model with a metrics file."""
    rows = []
    for path in sorted(params.subdir("metrics").glob("*.json")):
        m = json.loads(path.read_text())
        rows.append({
            "model": path.stem,
            "top1": m.get("top1"),
            "parameters (M)": (m.get("num_parameters") or float("nan")) / 1e6,
            "train wall time (s)": m.get("train_wall_time_s"),
            "train img/s": m.get("train_images_per_s"),
            "eval img/s": m.get("eval_images_per_s"),
            "peak GPU mem (GB)": m.get("peak_gpu_mem_gb"),
        })
    return pd.DataFrame(rows)


def _header(params: Params) -> list[str]:
    lines = [f"# Food-101 with ViT-B/16, Swin V2-T and CLIP: report (profile `{params.profile}`)", ""]
    if params.profile == "smoke":
        lines += ["> **Smoke profile: synthetic data and tiny models.** Every number below comes from a synthetic "
                  "mini Food-101 (coloured shapes on texture) and tiny models trained for seconds on a CPU. They show "
                  "that the pipeline runs end to end; they say nothing about the real models on the real Food-101.", ""]
    summary_path = params.subdir("data") / "summary.json"
    if summary_path.exists():
        s = json.loads(summary_path.read_text())
        counts = ", ".join(f"{k} {v}" for k, v in s.get("split_counts", {}).items())
        lines += [f"Data: {s.get('num_classes')} classes; {counts} images; {s.get('excluded')} files excluded, "
                  f"{s.get('converted')} converted to RGB.", ""]
    return lines


def _table_md(params: Params, stem: str, max_rows: int = 30) -> list[str]:
    md = (params.subdir("tables") / f"{stem}.md").read_text().strip().splitlines()
    note = [f"*(first {max_rows} of {len(md) - 2} rows; full table: [tables/{stem}.csv](tables/{stem}.csv))*"] \
        if len(md) - 2 > max_rows else []
    return [f"**{stem.replace('_', ' ')}**", "", *md[: max_rows + 2], *note, ""]


def build(params: Params) -> Path:
    """Write REPORT.md for `params`' run folder and return its path."""
    tables = _assign(_listing(params.subdir("tables"), ".md"))
    figures = _assign(_listing(params.subdir("figures"), ".png"))
    lines = _header(params)
    for section in (*SECTIONS, Section("Other artifacts", "", "", ())):
        t, f = tables[section.title], figures[section.title]
        if section.title == "Other artifacts" and not (t or f):
            continue
        lines += [f"## {section.title}", ""]
        if section.intro:
            lines += [section.intro, ""]
        if not (t or f):
            runs = " and ".join(f"`notebooks/{nb}.ipynb`" for nb in section.notebook.split(" / "))
            lines += [f"*Not produced yet: run {runs}.*", ""]
        for stem in t:
            lines += _table_md(params, stem)
        for stem in f:
            lines += [f"![{stem}](figures/{stem}.png)", ""]
    eff = efficiency_table(params)
    lines += ["## Efficiency", ""]
    lines += [artifacts.to_markdown(eff, "%.3g"), ""] if len(eff) else ["*No metrics files yet.*", ""]
    prov = artifacts.provenance(params)
    lines += [
        "## Reproducibility", "",
        f"Built {datetime.now(timezone.utc).isoformat(timespec='seconds')} from commit "
        f"`{prov['versions']['git_commit']}`. Rebuild with `./run_all.sh --profile {params.profile}`.", "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in prov["versions"].items() if k != "git_commit"), "",
        "<details><summary>Resolved parameters</summary>", "", "```json",
        json.dumps(params.to_dict(), indent=1), "```", "</details>", "",
    ]
    path = params.run_dir / "REPORT.md"
    with artifacts.atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines))
    return path


def missing_links(report: Path) -> list[str]:
    """Relative links in `report` (images and files) that point at nothing."""
    text = report.read_text()
    links = re.findall(r"\]\(([^)#]+)\)", text)
    return [link for link in links if "://" not in link and not (report.parent / link).exists()]
