"""The notebook series, run on smoke through papermill, is the integration test."""
import json

import nbformat
import pytest

from foodlib import config, paths
from foodlib.run import runner

ROOT = paths.project_root()


def test_series_runs_on_smoke(smoke_ok):
    for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        executed = smoke_ok.run_dir / "notebooks" / nb.name
        assert executed.exists(), f"no executed copy of {nb.name}"
        cells = nbformat.read(executed, as_version=4).cells
        assert any(c.get("outputs") for c in cells if c.cell_type == "code")
    timings = json.loads((smoke_ok.run_dir / "timings.json").read_text())
    ran = sorted(nb.stem for nb in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert [t["notebook"] for t in timings["notebooks"]] == ran
    assert all(t["status"] == "ok" and t["peak_host_bytes"] > 0 for t in timings["notebooks"])


def test_notebook_01_artifacts(smoke_ok):
    summary = json.loads((smoke_ok.subdir("data") / "summary.json").read_text())
    p = smoke_ok
    assert summary["num_classes"] == p.synthetic_classes
    assert summary["split_counts"]["test"] == p.synthetic_classes * p.synthetic_test_per_class
    assert summary["excluded"] == 3 and summary["converted"] == 3
    assert summary["params"]["profile"] == "smoke"
    for name in ("data_samples.png", "data_sizes.png"):
        assert (p.subdir("figures") / name).stat().st_size > 10_000
    for name in ("data_counts", "problem_files"):
        assert (p.subdir("tables") / f"{name}.csv").exists() and (p.subdir("tables") / f"{name}.md").exists()


def test_misspelt_papermill_parameter_is_refused(tmp_path):
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    with pytest.raises(PapermillExecutionError) as err:
        pm.execute_notebook(
            str(ROOT / "notebooks" / "01_data_prep.ipynb"), str(tmp_path / "out.ipynb"),
            parameters={"profile": "smoke", "not_a_param": 1, "results_dir": str(tmp_path)},
            kernel_name="python3", progress_bar=False,
        )
    assert err.value.ename == "ParameterError" and "not_a_param" in err.value.evalue


def test_runner_selects_in_order_and_reports_missing(tmp_path):
    for name in ("03_swin_finetune", "01_data_prep"):
        (tmp_path / f"{name}.ipynb").write_text("{}")
    run, missing = runner.select(tmp_path, only=[], start=None)
    assert [p.name[:2] for p in run] == ["01", "03"]
    assert "02_vit_finetune" in missing
    run, _ = runner.select(tmp_path, only=[], start="02")
    assert [p.name[:2] for p in run] == ["03"]
    with pytest.raises(SystemExit, match="09"):
        runner.select(tmp_path, only=["09"], start=None)


def test_runner_refuses_unknown_parameter_before_running(capsys):
    with pytest.raises(SystemExit) as exit_:
        runner.main(["--profile", "smoke", "--only", "01", "-p", "not_a_param", "1"])
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("run_all.sh: unknown parameter 'not_a_param'") and "==>" not in captured.out


def test_parse_value_like_papermill():
    assert runner.parse_value("3") == 3 and runner.parse_value("1e-4") == 1e-4
    assert runner.parse_value("True") is True and runner.parse_value("None") is None
    assert runner.parse_value("ViT-B/32") == "ViT-B/32"


def test_report_has_every_section_and_only_existing_links(smoke_ok):
    from foodlib.run import report

    path = smoke_ok.run_dir / "REPORT.md"
    text = path.read_text()
    assert "synthetic data and tiny models" in text
    assert report.missing_links(path) == []
    present = {p.name[:2] for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    blocks = {b.split("\n", 1)[0]: b for b in text.split("\n## ")[1:]}
    for section in report.SECTIONS:
        assert section.title in blocks
        if all(nb[:2] in present for nb in section.notebook.split(" / ")):
            assert "Not produced yet" not in blocks[section.title], f"section {section.title} is empty"
            assert "![" in blocks[section.title] or "| ---" in blocks[section.title]
    assert "## Reproducibility" in text and smoke_ok.profile in text


def test_report_flags_missing_figure(tmp_path, smoke_params):
    from foodlib.run import report

    (smoke_params.subdir("figures")).mkdir(parents=True)
    (smoke_params.subdir("figures") / "data_samples.png").write_bytes(b"png")
    path = report.build(smoke_params)
    assert "figures/data_samples.png" in path.read_text() and report.missing_links(path) == []
    (smoke_params.subdir("figures") / "data_samples.png").unlink()
    assert report.missing_links(path) == ["figures/data_samples.png"]


def test_full_profile_stops_within_seconds_without_gpu_or_hub(monkeypatch):
    import time

    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on the CPU test machines
    t0 = time.time()
    with pytest.raises(SystemExit, match=r"(?s)profile .full. cannot run here.*no GPU.*--profile smoke"):
        runner.main(["--only", "01"])
    assert time.time() - t0 < 15


def test_notebook_01_runs_with_nbconvert(tmp_path):
    """Students' tools run the notebooks too, not only papermill: execute 01 with jupyter nbconvert."""
    import os
    import subprocess
    import sys

    nb = nbformat.read(ROOT / "notebooks" / "01_data_prep.ipynb", as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source = params.source.replace("results_dir = None", f"results_dir = {str(tmp_path)!r}")
    src = tmp_path / "01_data_prep.ipynb"
    nbformat.write(nb, src)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "MPLBACKEND": "Agg"}
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                    "--output", "executed.ipynb", str(src)], check=True, cwd=ROOT, env=env, capture_output=True)
    executed = nbformat.read(tmp_path / "executed.ipynb", as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in outputs), "figures are not shown inline"
    assert (tmp_path / "smoke" / "data" / "summary.json").exists()


def test_preflight_lets_the_rehearsal_run_offline_but_not_full(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # as on the offline test machines
    runner.preflight(config.resolve("rehearsal", device="cpu"))  # builds everything locally: nothing to refuse
    with pytest.raises(SystemExit, match="huggingface.co"):
        runner.preflight(config.resolve("full", device="cpu"))
