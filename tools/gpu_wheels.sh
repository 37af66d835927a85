#!/usr/bin/env bash
# Download into .whl/ (ignored by git) the wheels that the lent GPU machine lacks, for tools/gpu_probe.sh.
#
#   tools/gpu_wheels.sh            # here, where pip reaches the index; then carry .whl to the device
#
# The device runs its own python (3.12, torch 2.11 + cu130, transformers 5.17, accelerate, pandas, pyarrow,
# scipy, scikit-learn, matplotlib, tensorboard, psutil, pytest, ...: the device tool's KINDS.md lists them).
# What the notebook series needs beyond that is papermill and the Jupyter kernel it drives, and `clip`
# (clip-anytorch, ftfy; setuptools<81 for its pkg_resources). Versions are this project's pins
# (constraints.txt); --no-deps, so every requirement is named here, and the check at the end fails when a
# wheel needs a package that is neither carried nor on the device. `datasets` is left out: only the hub
# source imports it, and nothing is fetched there. The whole of what travels must stay under 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
DEST=.whl
PACKAGES=(
    # papermill and what it drives: nbformat, nbclient, jupyter_client, the ipykernel kernel
    papermill entrypoints tenacity nbformat fastjsonschema jsonschema jsonschema-specifications referencing rpds-py
    jupyter_core platformdirs traitlets nbclient jupyter_client pyzmq tornado
    ipykernel comm debugpy ipython ipython_pygments_lexers jedi parso matplotlib-inline nest-asyncio2 pexpect
    ptyprocess prompt_toolkit wcwidth stack-data executing asttokens pure_eval
    ipywidgets widgetsnbextension jupyterlab_widgets  # runtime.progress renders widgets when ipywidgets is there
    # clip
    clip-anytorch ftfy setuptools
)
pin() {  # NAME -> NAME==VERSION from constraints.txt (names compared as pip does: case, - _ . alike)
    local want line
    want=$(echo "$1" | tr 'A-Z_.' 'a-z--')
    line=$(grep -v '^#' constraints.txt | awk -F'==' -v w="$want" '{n=tolower($1); gsub(/[_.]/, "-", n); if (n == w) print}')
    if [ -n "$line" ]; then echo "$line"; elif [ "$want" = setuptools ]; then echo "setuptools==80.9.0"; else
        echo "gpu_wheels.sh: $1 is not pinned in constraints.txt" >&2; exit 1; fi
}
specs=()
for p in "${PACKAGES[@]}"; do specs+=("$(pin "$p")"); done
mkdir -p "$DEST"
grep -qxF '/.whl/' .git/info/exclude 2>/dev/null || grep -qxF '/.whl/' .gitignore
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any -d "$DEST" "${specs[@]}"
# one version of each: a second stops the whole install there
"$PY" - "$DEST" <<'EOF'
import re, sys, zipfile
from pathlib import Path
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

# The device's python packages (the device tool's KINDS.md, "Python packages already there", 2026-11-17).
DEVICE = set(map(canonicalize_name, """absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio
attrs botorch build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings
cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock
flatbuffers flax fonttools formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub
humanize hypothesis idna imageio iniconfig interface-meta jax jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader
lightning lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl
meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals networkx ninja numba
numpy numpyro onnx opencv-python-headless optax opt-einsum orbax-checkpoint packaging pandas pathspec patsy peft pillow
pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing
pyproject-hooks pytest python-dateutil pytorch-lightning pyyaml regex requests rich safetensors scikit-image
scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six sortedcontainers
statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm
tokenizers toolz torch torchaudio torchdiffeq torchmetrics torchvision tqdm transformers treescope triton typer
typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp""".split()))
env = {**default_environment(), "python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux",
       "platform_system": "Linux", "platform_machine": "x86_64", "implementation_name": "cpython", "extra": ""}
wheels = sorted(Path(sys.argv[1]).glob("*.whl"))
names = {}
for w in wheels:
    name = canonicalize_name(parse_wheel_filename(w.name)[0])
    names.setdefault(name, []).append(w.name)
twice = {n: v for n, v in names.items() if len(v) > 1}
missing = {}
for w in wheels:
    with zipfile.ZipFile(w) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        for line in z.read(meta).decode().splitlines():
            if line.startswith("Requires-Dist:"):
                req = Requirement(line.split(":", 1)[1].strip())
                if req.marker is None or req.marker.evaluate(env):
                    dep = canonicalize_name(req.name)
                    if dep not in names and dep not in DEVICE:
                        missing.setdefault(dep, []).append(w.name)
total = sum(w.stat().st_size for w in wheels)
print(f"{len(wheels)} wheels in {sys.argv[1]}/, {total / 2**20:.1f} MiB")
for w in wheels:
    print(f"  {w.stat().st_size / 2**20:6.2f} MiB  {w.name}")
if twice:
    sys.exit(f"two versions of {sorted(twice)}: delete the older ones")
if missing:
    sys.exit(f"needed but neither carried nor on the device: {missing}")
if total > 48 * 2**20:  # the working tree travels too (64 MiB in all)
    sys.exit(f"{total / 2**20:.1f} MiB of wheels: too much to carry with the working tree (64 MiB in all)")
EOF
echo "tree that travels besides: $(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1 | awk '{printf "%.1f MiB", $1/2^20}')"
