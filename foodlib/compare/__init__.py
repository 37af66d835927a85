"""Notebook 05: join the models' test predictions and compare them.

  inputs         find, check and join the prediction files of 02-04 (same test images, same class order)
  tables         headline accuracy, pairwise tests, per-class differences, confusions, calibration
  disagreements  the images one model gets right and others wrong, ranked (06 reads them: `artifacts`)
  published      the run set against the published figures of the registry
  probes         the linear probes of 02-04: features against training, few-shot against zero-shot
  plots          the figures, each drawn from one of those tables

The model names come from the registry (`foodlib.registry`): the main models are
every registered model, and the linear probes join the tables when present.
"""
from foodlib.compare import plots
from foodlib.compare.probes import features_vs_training, fewshot_table, worth
from foodlib.compare.published import published_table
from foodlib.compare.disagreements import (correctness_patterns, disagreement_counts, disagreement_masks,
                                           disagreement_members, save_disagreements, shown_examples,
                                           with_class_names)
from foodlib.compare.inputs import (KNOWN_MODELS, MAIN_MODELS, InputMismatchError, Joined, check_inputs,
                                    find_models, found_table, join, load_joined, metrics_of)
from foodlib.compare.tables import (calibration_table, class_gaps, confused_pairs, confused_pairs_table,
                                    confusion_submatrix, headline_table, most_confused_classes, pairwise_table,
                                    per_class_accuracy)

__all__ = [
    "MAIN_MODELS", "KNOWN_MODELS", "InputMismatchError", "Joined", "find_models", "check_inputs",
    "found_table", "join", "load_joined", "metrics_of",
    "headline_table", "pairwise_table", "per_class_accuracy", "class_gaps", "confused_pairs", "confused_pairs_table",
    "most_confused_classes", "confusion_submatrix", "calibration_table",
    "disagreement_masks", "disagreement_members", "shown_examples",
    "save_disagreements", "with_class_names", "correctness_patterns", "disagreement_counts",
    "plots", "published_table", "features_vs_training", "fewshot_table", "worth",
]
