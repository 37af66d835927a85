"""Stand-ins for downloaded weights: built here once, saved as the real checkpoint is laid out, loaded back alike.

Two kinds, both offline (`model_source`):
- `tiny` (smoke): a small model of each family; the Hugging Face ones from the registry's tiny configs with
  seeded random weights, the tiny CLIP trained for seconds on the synthetic training images (`tinyclip`);
- `random` (rehearsal): the published architectures (`archs`) with seeded random weights.
Each is saved where the real one would be read from: a Hugging Face folder (config, safetensors weights,
processor config) that `from_pretrained` reads, or a state dict that `clip.load(path)` reads.

    standins.hf_folder("vit", params)  -> folder (model_source tiny or random)
    standins.clip_file(params)         -> file (clip_model "tiny", or a released name with model_source random)

One marker per stand-in, written last, records what it was built from (`build`) and, for a trained one, how
the training went (`info`). `is_current` compares `build` only: a crash mid-write leaves no marker, another
seed or config differs, and either way the stand-in is built again; otherwise it is reused.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import torch

from foodlib import artifacts, paths, registry
from foodlib.config import Params
from foodlib.data.prepare import load_prepared
from foodlib.models import archs, tinyclip
from foodlib.models.common import import_clip, quiet_loading

MARKER = "standin.json"  # inside a Hugging Face folder; beside a CLIP file it is `<file stem>.json`


def marker_path(path: str | Path) -> Path:
    """Where a stand-in's marker lies: beside a CLIP state-dict file, inside a Hugging Face folder."""
    path = Path(path)
    return path.with_suffix(".json") if path.suffix == ".pt" else path / MARKER


def _plain(obj: Any) -> Any:
    return json.loads(json.dumps(obj))  # tuples -> lists, as the marker reads back


def is_current(path: str | Path, build: dict[str, Any]) -> bool:
    """True when `path` holds a complete stand-in built from `build`."""
    marker = marker_path(path)
    if not (Path(path).exists() and marker.exists()):
        return False
    return read_marker(path).get("build") == _plain(build)


def read_marker(path: str | Path) -> dict[str, Any]:
    """The marker of a built stand-in ({"build": ..., "info": ...})."""
    return json.loads(marker_path(path).read_text())


def save(path: str | Path, write: Callable[[Path], None], build: dict[str, Any],
         info: dict[str, Any] | None = None) -> Path:
    """Save a stand-in atomically: `write(tmp)` fills a temporary folder or file beside `path`, the marker is
    written last, and the whole replaces `path` (a folder in one swap; a file, then its marker)."""
    path = Path(path)
    marker = {"build": _plain(build), "info": info or {}}
    if path.suffix == ".pt":
        marker_path(path).unlink(missing_ok=True)  # no marker: not current until both are written
        with artifacts.atomic_path(path) as tmp:
            write(tmp)
        artifacts.write_json(marker_path(path), marker)
        return path
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    write(tmp)
    (tmp / MARKER).write_text(json.dumps(marker))
    artifacts.swap_in(tmp, path)
    return path


# -- Hugging Face classifiers ------------------------------------------------------------

def _hf_settings(name: str, source: str) -> tuple[Any, dict[str, Any]]:
    """(config, processor config) of a stand-in: the registry's tiny config with the published processor at
    the tiny input size, or the published config and processor (`archs`)."""
    if source == "tiny":
        tiny = registry.spec(name).family.tiny_config()
        size = {"height": tiny.image_size, "width": tiny.image_size}
        return tiny, {**archs.PROCESSORS[name], "size": size}
    return archs.hf_config(name), dict(archs.PROCESSORS[name])


def hf_build(name: str, source: str, seed: int) -> dict[str, Any]:
    """What a Hugging Face stand-in is built from: name, seed, model config and processor config."""
    hf_config, processor = _hf_settings(name, source)
    return _plain({"model_name": name, "seed": seed, "config": hf_config.to_dict(), "processor": processor})


def _write_hf(name: str, hf_config, processor: dict[str, Any], seed: int, folder: Path) -> None:
    import transformers

    model_class = getattr(transformers, registry.spec(name).family.model_class)  # as the hub checkpoint is saved
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_class(hf_config)
    with quiet_loading():  # no 'Writing model shards' bar in papermill logs
        model.save_pretrained(folder)
    transformers.ViTImageProcessor(**processor).save_pretrained(folder)


def hf_folder(name: str, params: Params) -> str:
    """The folder `from_pretrained` reads for 'vit' or 'swin' at `params.model_source` (tiny or random)."""
    folder = params.cache_dir / "models" / params.model_source / name
    build = hf_build(name, params.model_source, params.seed)  # before building: saving fills in config fields
    if not is_current(folder, build):
        hf_config, processor = _hf_settings(name, params.model_source)
        save(folder, lambda tmp: _write_hf(name, hf_config, processor, params.seed, tmp), build)
    return str(folder)


# -- CLIP ----------------------------------------------------------------------------------

def _write_random_clip(dims: dict[str, int], seed: int, path: Path) -> None:
    """A released CLIP's architecture with seeded random weights, in float16 as OpenAI releases it."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = import_clip().model.CLIP(**dims)
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}, path)


def clip_build(name: str, seed: int) -> dict[str, Any]:
    """What a random-weight CLIP is built from: the released name, seed and dimensions, stored in float16."""
    return {"model_name": name, "seed": seed, "clip": archs.clip_dims(name), "dtype": "float16"}


def _random_clip(name: str, params: Params) -> Path:
    path = params.cache_dir / "models" / "random" / f"clip_{name.replace('/', '-')}.pt"
    build = clip_build(name, params.seed)
    if not is_current(path, build):
        save(path, lambda tmp: _write_random_clip(build["clip"], params.seed, tmp), build)
    return path


def tiny_clip_path(params: Params) -> Path:
    """Where the trained tiny CLIP's state dict is kept (its marker beside it)."""
    return params.cache_dir / "models" / tinyclip.MODEL_FILE


def _tiny_clip(params: Params, progress: bool) -> Path:
    path = tiny_clip_path(params)
    prepared = load_prepared(params)
    build = tinyclip.settings(params, prepared)
    if is_current(path, build):
        return path
    t0 = time.perf_counter()
    model, info = tinyclip.train_new(params, prepared)
    save(path, lambda tmp: torch.save(model.state_dict(), tmp), build,
         {**info, "load_seconds": time.perf_counter() - t0 - info["train_seconds"], **artifacts.provenance(params)})
    if progress:
        print(f"trained the tiny CLIP in {info['train_seconds']:.1f} s on {info['num_train_images']} training "
              f"images (loss {info['loss_first']:.2f} -> {info['loss_last']:.2f}); saved {paths.shown(path)}")
    return path


def clip_file(params: Params, progress: bool = True) -> Path:
    """The state dict `clip.load` reads: the trained tiny CLIP (`clip_model="tiny"`), or a released name's
    architecture with random weights (`model_source="random"`)."""
    if params.clip_model == "tiny":
        return _tiny_clip(params, progress)
    if params.model_source != "random":
        raise ValueError(f"no stand-in for CLIP {params.clip_model!r} with model_source={params.model_source!r}")
    return _random_clip(params.clip_model, params)


def clip_training(params: Params) -> dict[str, Any]:
    """How the tiny CLIP was trained (time, losses, images), as its marker records it."""
    artifacts.require(marker_path(tiny_clip_path(params)), "clip")
    return read_marker(tiny_clip_path(params))["info"]
