"""Linear probes, one protocol for every backbone (ViT, Swin V2, CLIP): frozen features, logistic regression.

    result = probe.linear("vit", params, prepared, device)   # the pretrained backbone 02 starts from, frozen
    row = probe.write_results(result, params, prepared)
    result.sweep, result.strength, result.fewshot_summary(), probe.show_fewshot(result, params)

  protocol  `linear`, `run`, `evaluate`, `write_results`, `show_fewshot`: the whole probe and what it writes
  features  the probed layer of each backbone (removable hooks), training images for the probe
  cache     each split's features extracted once, read back while current
  logreg    multinomial logistic regression with an L2 penalty, full-batch L-BFGS in torch
  sweep     the CLIP paper's parametric binary search for the L2 strength, on validation
  fewshot   k labelled images per class, several seeds
  plots     the sweep curve and the few-shot curve
"""
from foodlib.probe import cache, features, fewshot, logreg, plots, protocol, sweep
from foodlib.probe.protocol import ProbeResult, evaluate, linear, run, show_fewshot, write_results

__all__ = ["linear", "run", "evaluate", "write_results", "show_fewshot", "ProbeResult", "cache", "features", "fewshot",
           "logreg", "plots", "protocol", "sweep"]
