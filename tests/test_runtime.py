"""Mixed precision by the `mixed_precision` parameter: which dtype autocast gets on which GPU."""
import pytest
import torch

from foodlib import runtime


@pytest.mark.parametrize("gpu, native, emulated, expected", [
    ("A100 / H100 (bf16 in hardware)", True, True, torch.bfloat16),
    ("T4 (bf16 only emulated)", False, True, torch.float16),
])
def test_auto_picks_bf16_only_where_the_gpu_computes_in_it(monkeypatch, gpu, native, emulated, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported",
                        lambda including_emulation=True: emulated if including_emulation else native)
    assert runtime.autocast_dtype("auto", "cuda") == expected, gpu
    assert runtime.autocast_dtype("bf16", "cuda") == torch.bfloat16  # asked for by name: as asked
    assert runtime.autocast_dtype("auto", "cpu") is None and runtime.autocast_dtype("no", "cuda") is None
