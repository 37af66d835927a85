"""Notebook 04: CLIP zero-shot on the test split, with several prompt sets.

    result = zeroshot.score(params, model, preprocess, prepared, device)
    table = zeroshot.prompt_table(result)
    metrics = zeroshot.write_results(result, model, params, prepared)

  classify  prompts and images embedded, scored, written
  plots     the prompt-set figure
"""
from foodlib.models.common import ENSEMBLE, FOOD_TEMPLATE, class_texts
from foodlib.zeroshot import classify, plots
from foodlib.zeroshot.classify import (ImageEncoder, describe_model, eval_loader, image_features, prompt_sets,
                                       prompt_table, published_top1, score, text_features, write_results,
                                       zero_shot_probs)

__all__ = ["FOOD_TEMPLATE", "ENSEMBLE", "prompt_sets", "class_texts", "text_features",
           "image_features", "ImageEncoder", "eval_loader", "zero_shot_probs", "score", "prompt_table", "write_results",
           "describe_model", "published_top1", "classify", "plots"]
