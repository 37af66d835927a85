"""The published architectures, written out: what the rehearsal's stand-ins are built from.

A rehearsal runs the full profile at full scale without downloading anything:
ViT-B/16, Swin V2-T and CLIP are built from these configurations (tests/test_archs.py
checks them against the values on the hub and in OpenAI's release) with seeded random
weights by `foodlib.models.standins`, and read back with the same `from_pretrained`
and `clip.load` calls that read the hub ids and released names. On disk: ViT-B/16
~350 MB (86.4 M float32 parameters), Swin V2-T ~115 MB (28.4 M), CLIP ViT-B/32
~300 MB (151.3 M in float16, as released).
"""
from __future__ import annotations

from typing import Any

from foodlib import registry


# -- Hugging Face checkpoints: config.json and preprocessor_config.json as published ----------

def vit_config():
    """google/vit-base-patch16-224-in21k's config: ViT-B/16 at 224 px, saved as a bare ViTModel (+ pooler)."""
    from transformers import ViTConfig

    # 224 px / 16 px patches -> a 14x14 grid + CLS = 197 tokens of width 768.
    return ViTConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                     hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                     initializer_range=0.02, layer_norm_eps=1e-12, image_size=224, patch_size=16,
                     num_channels=3, qkv_bias=True)


def swin_config():
    """microsoft/swinv2-tiny-patch4-window8-256's config: Swin V2-T at 256 px with its ImageNet-1k head."""
    from transformers import Swinv2Config

    # 256 px / 4 px patches -> 64x64 tokens in 8x8 windows; patch merging halves the side per stage:
    # 64x64 (96 ch), 32x32 (192), 16x16 (384), 8x8 (768, one window). Trained from scratch at window 8,
    # so no pretrained window sizes. num_labels 1000: the ImageNet head that loading replaces.
    return Swinv2Config(image_size=256, patch_size=4, num_channels=3, embed_dim=96, depths=[2, 2, 6, 2],
                        num_heads=[3, 6, 12, 24], window_size=8, pretrained_window_sizes=[0, 0, 0, 0],
                        mlp_ratio=4.0, qkv_bias=True, hidden_act="gelu", hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0, drop_path_rate=0.1, use_absolute_embeddings=False,
                        initializer_range=0.02, layer_norm_eps=1e-5, encoder_stride=32, num_labels=1000)


# The image processor each checkpoint publishes (a ViTImageProcessor for both). resample is PIL's
# code: 2 = bilinear, 3 = bicubic.
PROCESSORS: dict[str, dict[str, Any]] = {
    "vit": {"size": {"height": 224, "width": 224}, "resample": 2,
            "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]},
    "swin": {"size": {"height": 256, "width": 256}, "resample": 3,
             "image_mean": list(registry.IMAGENET_MEAN), "image_std": list(registry.IMAGENET_STD)},
}
HF_CONFIGS = {"vit": vit_config, "swin": swin_config}

# -- CLIP: the dimensions of OpenAI's released ViT models (what clip.model.build_model reads off them) --

_CLIP_TEXT = {"context_length": 77, "vocab_size": 49408}
_VIT_B = {"embed_dim": 512, "image_resolution": 224, "vision_layers": 12, "vision_width": 768, **_CLIP_TEXT,
          "transformer_width": 512, "transformer_heads": 8, "transformer_layers": 12}
_VIT_L = {"embed_dim": 768, "image_resolution": 224, "vision_layers": 24, "vision_width": 1024,
          "vision_patch_size": 14, **_CLIP_TEXT, "transformer_width": 768, "transformer_heads": 12,
          "transformer_layers": 12}
CLIP_DIMS: dict[str, dict[str, int]] = {
    # ViT-B/32 at 224 px: a 7x7 grid + CLS; ViT-B/16: 14x14; ViT-L/14: 16x16 (24x24 at 336 px).
    "ViT-B/32": {**_VIT_B, "vision_patch_size": 32},
    "ViT-B/16": {**_VIT_B, "vision_patch_size": 16},
    "ViT-L/14": _VIT_L,
    "ViT-L/14@336px": {**_VIT_L, "image_resolution": 336},
}


def clip_dims(name: str) -> dict[str, int]:
    """`clip.model.CLIP`'s arguments for a released CLIP name; ValueError naming the supported ones."""
    if name not in CLIP_DIMS:
        raise ValueError(f"no random-weight build of CLIP {name!r}: model_source='random' supports "
                         f"{', '.join(CLIP_DIMS)}")
    return dict(CLIP_DIMS[name])


def hf_config(name: str):
    """The published config of a registered Hugging Face model ('vit' or 'swin')."""
    if name not in HF_CONFIGS:
        raise ValueError(f"no random-weight build of {name!r}: model_source='random' supports "
                         f"{', '.join(HF_CONFIGS)} and the CLIP names {', '.join(CLIP_DIMS)}")
    return HF_CONFIGS[name]()
