"""Notebook 06: where the three models look, and which maps deserve trust.

    inputs = attention.check_inputs(params)                      # 01's data, 05's disagreement sets
    explainers = attention.load_explainers(params, inputs.prepared.classes, device=device)
    faithful, curves = attention.deletion_table(explainers, images, params.deletion_steps)

  vit           ViT and CLIP (class token): attention capture, class-token attention, rollout, relevancy
  swin          Swin V2: shifted-window attention on the full token grid, rollout and relevancy through the
                stages, Grad-CAM
  faithfulness  the deletion test and the in-box mass (tensor in, tensor or table out)
  resize        maps to another grid or onto their image; images straight to a model's input
  explain       `Explainer`: one interface over the three models (predict, map, per-head maps, images)
  analysis      what 06 computes with them: deletion table, galleries, every head, in-box check
  plots         overlays, galleries, head grids, deletion curves, the explorer's view
  catalogue     what the explorer browses: test images, predictions, 05's sets, a page at a time
  explore       `explorer(params, ...)`: ipywidgets over any test image, the three models side by side
"""
from foodlib.attention import analysis, catalogue, explain, explore, faithfulness, plots, resize, swin, vit
from foodlib.attention.analysis import (Inputs, best_methods, check_inputs, deletion_images, deletion_table,
                                        describe, gallery_figure, gallery_rows, head_example, heads_figure, in_box,
                                        in_box_table, off_diagonal, spread)
from foodlib.attention.catalogue import GALLERY_SETS, test_paths
from foodlib.attention.explain import Explainer, load_eval_images, load_explainers
from foodlib.attention.explore import Explorer, explorer
from foodlib.attention.resize import load_resized

__all__ = ["analysis", "catalogue", "explain", "explore", "faithfulness", "plots", "resize", "swin", "vit",
           "GALLERY_SETS", "Inputs", "best_methods", "check_inputs", "deletion_images", "deletion_table", "describe",
           "gallery_figure", "gallery_rows", "head_example", "heads_figure", "in_box", "in_box_table",
           "off_diagonal", "spread", "test_paths", "Explainer", "load_eval_images", "load_explainers",
           "load_resized", "Explorer", "explorer"]
