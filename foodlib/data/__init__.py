"""Notebook 01, and the data every later notebook reads.

    images = data.load_source(params)                 # hub | archive | synthetic -> FoodImages
    prepared = data.prepare_dataset(params, images)   # every image checked, converted to RGB, cached once
    prepared = data.load_prepared(params)             # what later notebooks read (fails naming 01)

  sources     the data sources, all ending in `FoodImages`
  prepare     validation, RGB conversion, the prepared cache, the validation split
  loader      datasets, DataLoaders, batches onto the device
  transforms  uint8 train crop and augmentation, normalisation
  preprocess  `Preprocess`: the eval input a model expects (read off its checkpoint) and the transforms that make it
  evalcache   val/test eval inputs decoded and cropped once
  synthetic   the synthetic Food-101 (shapes, photos) in the official archive layout
  summary     counts, sizes, modes, exclusions: what 01 shows
  plots       01's figures
"""
from foodlib.data import evalcache, loader, plots, prepare, preprocess, sources, summary, synthetic, transforms
from foodlib.data.prepare import Prepared, load_prepared, prepare_dataset
from foodlib.data.preprocess import Preprocess
from foodlib.data.sources import FoodImages, load_source
from foodlib.data.summary import counts, problem_files, summarize

__all__ = ["evalcache", "loader", "plots", "prepare", "preprocess", "sources", "summary", "synthetic", "transforms",
           "Prepared", "Preprocess", "load_prepared", "prepare_dataset", "FoodImages", "load_source", "counts",
           "problem_files", "summarize"]
