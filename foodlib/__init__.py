"""foodlib: the library behind the Food-101 notebook series (ViT, Swin V2, CLIP).

Importing it does nothing but define modules: seeds, plot style and offline
flags are set by `foodlib.runtime.setup(params)`.
"""
__version__ = "0.1.0"
