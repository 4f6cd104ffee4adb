"""The window means (model/box.py): on the CPU by running sums, the same means as avg_pool2d's to float
rounding, at every size down to a single pixel and windows wider than the frame; the window maxima,
max_pool2d's exactly."""
import pytest
import torch
import torch.nn.functional as F

from convlstm.model.box import block_mean, box_mean, window_max


def pooled_block_mean(x, side):
    rows = F.avg_pool2d(x, (1, side), stride=1, padding=(0, side // 2), count_include_pad=False)
    return F.avg_pool2d(rows, (side, 1), stride=1, padding=(side // 2, 0), count_include_pad=False)


def pooled_box_mean(x, side):
    r = side // 2
    x = F.avg_pool2d(F.pad(x, (r, r, 0, 0), mode="replicate"), (1, side), stride=1)
    return F.avg_pool2d(F.pad(x, (0, 0, r, r), mode="replicate"), (side, 1), stride=1)


@pytest.mark.parametrize("shape", [(1, 9, 45, 80), (2, 1, 7, 5), (1, 2, 3, 100), (1, 1, 1, 1), (1, 3, 1, 9)])
@pytest.mark.parametrize("side", [3, 5, 9, 15])
def test_the_window_means_are_avg_pool2ds(shape, side):
    x = torch.rand(shape, generator=torch.Generator().manual_seed(side))
    a = block_mean(x, side)
    assert a.shape == x.shape and torch.allclose(a, pooled_block_mean(x, side), atol=1e-6, rtol=0)
    if min(shape[-2:]) > 1 or side == 3:      # replicate padding needs the pixels it copies
        b = box_mean(x, side)
        assert b.shape == x.shape and torch.allclose(b, pooled_box_mean(x, side), atol=1e-6, rtol=0)
    assert torch.equal(x, torch.rand(shape, generator=torch.Generator().manual_seed(side)))   # input untouched


@pytest.mark.parametrize("shape", [(1, 1, 45, 80), (2, 3, 7, 5), (1, 1, 1, 1), (1, 2, 3, 100)])
@pytest.mark.parametrize("side", [1, 3, 5, 9, 15, 17])
def test_the_window_maxima_are_max_pool2ds(shape, side):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(side))
    assert torch.equal(window_max(x, side), F.max_pool2d(x, side, stride=1, padding=side // 2))
