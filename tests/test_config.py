import pytest

from foodlib import config, paths


def test_profiles_resolve_and_differ():
    smoke, full = config.resolve("smoke"), config.resolve("full")
    assert smoke.data_source == "synthetic" and smoke.model_source == "tiny" and smoke.device == "cpu"
    assert full.data_source == "hub" and full.model_source == "hub"
    assert config.resolve("quick").subset_per_class > 0


def test_override_one_field_and_none_keeps_profile_value():
    p = config.resolve("smoke", num_epochs=2, lr=None)
    assert p.num_epochs == 2
    assert p.lr == config.resolve("smoke").lr


def test_unknown_parameter_is_named_with_suggestion():
    with pytest.raises(config.ParameterError, match=r"'num_epoch'.*did you mean 'num_epochs'"):
        config.resolve("smoke", num_epoch=3)


def test_wrong_type_is_refused_and_int_is_accepted_for_float():
    with pytest.raises(config.ParameterError, match="num_epochs.*int.*str"):
        config.resolve("smoke", num_epochs="three")
    with pytest.raises(config.ParameterError, match="batch_size.*int.*bool"):
        config.resolve("smoke", batch_size=True)
    assert config.resolve("smoke", lr=1).lr == 1.0


def test_fewshot_parameters_are_checked_and_one_k_may_come_as_a_number():
    assert config.resolve("smoke", fewshot_k=16).fewshot_ks == [16]  # papermill's -p fewshot_k 16
    assert config.resolve("smoke", fewshot_k="4, 1,2").fewshot_ks == [1, 2, 4]
    assert config.resolve("smoke", fewshot_k="").fewshot_ks == []
    with pytest.raises(config.ParameterError, match="fewshot_k.*e.g. '1,2,4,8,16'"):
        config.resolve("smoke", fewshot_k="1,two")
    with pytest.raises(config.ParameterError, match="fewshot_seeds must be at least 1.*got 0"):
        config.resolve("smoke", fewshot_seeds=0)


def test_choices_and_profile_checked():
    with pytest.raises(config.ParameterError, match="data_source"):
        config.resolve("smoke", data_source="flickr")
    with pytest.raises(config.ParameterError, match="unknown profile 'smok'"):
        config.resolve("smok")


def test_paths_derive_from_results_dir(tmp_path):
    p = config.resolve("smoke", results_dir=str(tmp_path))
    assert p.run_dir == tmp_path / "smoke"
    assert p.cache_dir == tmp_path / "smoke" / "cache"
    assert p.subdir("predictions") == tmp_path / "smoke" / "predictions"
    assert p.data_root == tmp_path / "smoke" / "cache" / "synthetic"


def test_relative_results_dir_is_taken_from_project_root(tmp_path, monkeypatch):
    root = paths.project_root()
    monkeypatch.chdir(root / "notebooks")  # where JupyterLab starts a notebook's kernel
    assert config.resolve("smoke").run_dir == root / "results" / "smoke"


def test_from_notebook_refuses_unknown_injected_literal():
    ns = {"profile": "smoke", "num_epochs": 2, "config": config, "In": [], "_x": 1}
    assert config.from_notebook(dict(ns)).num_epochs == 2
    with pytest.raises(config.ParameterError, match="not_a_param"):
        config.from_notebook({**ns, "not_a_param": 1})


def test_from_notebook_rerun_ignores_later_cells_literals():
    ns = {"profile": "smoke", "num_epochs": 2}
    config.from_notebook(ns)
    ns["n_shown"] = 5  # a later cell's variable, then the student re-runs the parameters cell
    with pytest.warns(UserWarning, match="n_shown"):
        assert config.from_notebook(ns).num_epochs == 2


def test_rehearsal_is_full_with_synthetic_data_and_random_weights():
    full, rehearsal = config.resolve("full").to_dict(), config.resolve("rehearsal").to_dict()
    differ = {k for k in full if full[k] != rehearsal[k]}
    assert differ == {"profile", "data_source", "model_source", "synthetic_classes", "synthetic_train_per_class",
                      "synthetic_test_per_class", "synthetic_style", "synthetic_image_size"}
    assert (rehearsal["synthetic_classes"], rehearsal["synthetic_train_per_class"],
            rehearsal["synthetic_test_per_class"]) == (101, 750, 250)  # Food-101's 75,750 / 25,250
    assert rehearsal["model_source"] == "random" and rehearsal["synthetic_style"] == "photo"
    assert rehearsal["clip_model"] == "ViT-B/32" and rehearsal["cache_short_side"] == 288


def test_synthetic_style_is_checked():
    assert config.resolve("smoke").synthetic_style == "shapes"
    with pytest.raises(config.ParameterError, match="synthetic_style"):
        config.resolve("smoke", synthetic_style="photos")
