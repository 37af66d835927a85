"""Notebook 06: where the three models look, and which maps deserve trust.

    inputs = attention.check_inputs(params)                      # 01's data, 05's disagreement sets
    explainers = attention.load_explainers(params, inputs.prepared.classes, device=device)
    faithful, curves = attention.deletion_table(explainers, images, params.deletion_steps)

  vit           ViT and CLIP (class token): attention capture, class-token attention, rollout, relevancy
  swin          Swin V2: shifted-window attention on the full token grid, rollout and relevancy through the
                stages, Grad-CAM
  faithfulness  the deletion test and the in-box mass (tensor in, tensor or table out)
  explain       `Explainer`: one interface over the three models (predict, map, per-head maps, images)
  analysis      what 06 computes with them: deletion table, galleries, every head, in-box check
  plots         overlays, galleries, head grids, deletion curves, the explorer's view
  browse        what the explorer browses (test images, predictions, disagreement sets) and its map cache
  explore       `explorer(params, ...)`: ipywidgets over any test image, the three models side by side
"""
from foodlib.attention import analysis, browse, explain, explore, faithfulness, plots, swin, vit
from foodlib.attention.analysis import (GALLERY_SETS, Inputs, best_methods, check_inputs, deletion_images,
                                        deletion_table, describe, gallery_figure, gallery_rows, head_example,
                                        heads_figure, in_box, in_box_table, off_diagonal, spread, test_paths)
from foodlib.attention.explain import Explainer, load_eval_images, load_explainers, load_resized
from foodlib.attention.explore import Explorer, explorer

__all__ = ["analysis", "browse", "explain", "explore", "faithfulness", "plots", "swin", "vit", "GALLERY_SETS",
           "Inputs", "best_methods", "check_inputs", "deletion_images", "deletion_table", "describe",
           "gallery_figure", "gallery_rows", "head_example", "heads_figure", "in_box", "in_box_table",
           "off_diagonal", "spread", "test_paths", "Explainer", "load_eval_images", "load_explainers",
           "load_resized", "Explorer", "explorer"]
