"""CLIP through the `clip` package: where its weights come from, and loading them.

`clip_model` names a released CLIP (ViT-B/32, ...) or a local checkpoint file.
Whatever the source, the model comes from `clip.load(name_or_path)` with the
transform it returns: `tiny` (smoke) trains a tiny CLIP first
(`foodlib.models.tinyclip`) and `random` (rehearsal) writes the released
architecture with random weights (`foodlib.models.archs`), each saved as a
file that `clip.load` reads like a download.
"""
from __future__ import annotations

import warnings
from pathlib import Path

from foodlib import config
from foodlib.config import Params
from foodlib.models import archs, tinyclip
from foodlib.models.common import import_clip
from foodlib.models.preprocess import Preprocess

def resolve_checkpoint(name: str) -> str:
    """What clip.load gets for `name`: a released model name, or an existing local file."""
    clip = import_clip()
    if name in clip.available_models():
        return name
    path = Path(name).expanduser()
    path = path if path.is_absolute() else config.project_root() / path
    if path.is_file():
        return str(path)
    raise ValueError(f"clip_model {name!r} is neither a released CLIP ({', '.join(clip.available_models())}), "
                     f"'tiny', nor an existing checkpoint file")


def source(params: Params) -> str:
    """The name or file `clip.load` is given; builds the tiny or random stand-in first when needed.

    `clip_model="tiny"` (smoke) is the trained tiny CLIP; a released name with
    `model_source="random"` (rehearsal) is that architecture with random
    weights; otherwise the released weights or a local checkpoint file.
    """
    if params.clip_model == "tiny":
        return str(tinyclip.ensure(params))
    name = resolve_checkpoint(params.clip_model)
    if params.model_source == "random" and name == params.clip_model:  # a released name, not a file
        path = params.cache_dir / "models" / "random" / f"clip_{name.replace('/', '-')}.pt"
        if not archs.is_current(path, name, params.seed):
            archs.build_random_clip(name, path, seed=params.seed)
        return str(path)
    return name


def load(params: Params, device: str = "cpu"):
    """(model, Preprocess) through `clip.load`, in float32 and eval mode.

    clip.load leaves fp16 weights on a GPU; here mixed precision comes from
    autocast (`runtime.autocast`), as for the other models.
    """
    clip = import_clip()
    name = source(params)
    with warnings.catch_warnings():  # clip.load tries torch.jit.load first, which recent torch flags as deprecated
        warnings.filterwarnings("ignore", message=".*torch.jit.load.* is deprecated", category=FutureWarning)
        model, transform = clip.load(name, device=device, jit=False)
    return model.float().eval(), Preprocess.from_torchvision(transform)
