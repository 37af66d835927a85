"""Notebook 07: what the models learnt about where a patch is.

    classes = posembed.check_inputs(params)
    pe, grid = posembed.vit_position_embeddings(model)
    sim = posembed.similarity(pe, grid, has_class_token=True)

  analysis  position-embedding similarity and its structure, fine-tuning's movement, Swin V2's relative bias
  plots     the ViT paper's Figure 7 grid, distance profiles, movement map, Swin V2's bias per head
"""
from foodlib.posembed import analysis, plots
from foodlib.posembed.analysis import (check_inputs, clip_position_embeddings, cosine_similarity, distance_correlation,
                                       distance_profile, movement, patch_embeddings, row_column_table, similarity,
                                       structure_table, swin_attention_module, swin_relative_bias,
                                       vit_position_embeddings)

__all__ = ["analysis", "plots", "check_inputs", "clip_position_embeddings", "cosine_similarity",
           "distance_correlation", "distance_profile", "movement", "patch_embeddings", "row_column_table",
           "similarity", "structure_table", "swin_attention_module", "swin_relative_bias", "vit_position_embeddings"]
