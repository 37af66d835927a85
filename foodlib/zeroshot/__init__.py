"""Notebook 04: CLIP zero-shot on the test split, with several prompt sets.

    result = zeroshot.score(params, model, preprocess, prepared, device)
    table = zeroshot.prompt_table(result)
    metrics = zeroshot.write_results(result, params, prepared)

  classify  images embedded, scored against each prompt set's class embeddings, written
  plots     the prompt-set figure
The prompt templates and the text features are CLIP's zero-shot head, so they live with CLIP's loading
(`foodlib.models.clipmodels`; re-exported here).
"""
from foodlib.models.clipmodels import ENSEMBLE, FOOD_TEMPLATE, prompt_sets, text_features
from foodlib.models.common import class_texts
from foodlib.zeroshot import classify, plots
from foodlib.zeroshot.classify import (ImageEncoder, ZeroShotResult, describe_model, eval_loader, image_features,
                                       prompt_table, published_top1, score, write_results, zero_shot_probs)

__all__ = ["FOOD_TEMPLATE", "ENSEMBLE", "prompt_sets", "class_texts", "text_features", "image_features",
           "ImageEncoder", "eval_loader", "zero_shot_probs", "score", "ZeroShotResult", "prompt_table",
           "write_results", "describe_model", "published_top1", "classify", "plots"]
