"""frontend.interactive(): live where a person watches the kernel, not where a notebook runs unattended.

Each case starts a real kernel the way a frontend or a batch tool does and asks it."""
import os
import subprocess
import sys

import nbformat
import pytest

from foodlib import frontend, paths

ASK = "from foodlib import frontend; print('LIVE' if frontend.interactive() else 'BATCH')"
# A process that starts a kernel and talks to it, as JupyterLab's server does (its command line names no batch tool).
SERVER = f"""
from jupyter_client.manager import start_new_kernel
km, kc = start_new_kernel(kernel_name="python3")
try:
    kc.execute_interactive({ASK!r}, timeout=60)
finally:
    kc.stop_channels(); km.shutdown_kernel(now=True)
"""


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != frontend.BATCH_ENV}  # an in-process run_all may set it
    return {**env, "PYTHONPATH": str(paths.project_root()), **extra}  # the kernel imports this checkout's foodlib


def kernel_says(command: list[str], env: dict[str, str], cwd) -> str:
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_a_kernel_a_frontend_started_is_live_unless_the_batch_switch_is_set(tmp_path):
    assert "LIVE" in kernel_says([sys.executable, "-c", SERVER], environment(), tmp_path)
    assert "BATCH" in kernel_says([sys.executable, "-c", SERVER], environment(**{frontend.BATCH_ENV: "1"}), tmp_path)


@pytest.mark.parametrize("tool", ["nbconvert", "execute"])
def test_a_notebook_executed_by_jupyter_is_not_live(tmp_path, tool):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(ASK)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "ask.ipynb")
    command = {"nbconvert": ["nbconvert", "--to", "notebook", "--execute", "--inplace", "ask.ipynb"],
               "execute": ["execute", "--inplace", "ask.ipynb"]}[tool]
    kernel_says([sys.executable, "-m", "jupyter", *command], environment(), tmp_path)
    outputs = nbformat.read(tmp_path / "ask.ipynb", 4).cells[0].outputs
    assert [o.get("text", "").strip() for o in outputs] == ["BATCH"]


def test_the_runner_marks_its_kernels_as_batch():
    from foodlib.run import runner

    assert runner.KERNEL_ENV[frontend.BATCH_ENV] == "1"
