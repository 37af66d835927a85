"""tests/background.py's check that the disk can hold what the suite writes, before it writes anything."""
from __future__ import annotations

import shutil
from collections import namedtuple

import background

Usage = namedtuple("Usage", "total used free")


def test_the_space_asked_for_grows_with_the_selected_runs_and_a_short_disk_is_named(tmp_path, monkeypatch):
    free_gib = background.SPACE_GIB["tests"] + background.SPACE_GIB["smoke"] + 0.1
    monkeypatch.setattr(shutil, "disk_usage", lambda where: Usage(0, 0, free_gib * 2**30))
    assert background.space_problem(tmp_path, []) is None
    assert background.space_problem(tmp_path, ["smoke"]) is None
    problem = background.space_problem(tmp_path, ["smoke", "rehearsal"])
    need = sum(background.SPACE_GIB.values())
    assert problem.startswith(f"only {free_gib:.1f} GiB free under {tmp_path}")
    assert f"up to {need:.1f} GiB" in problem and "--basetemp" in problem and "not slow" in problem
