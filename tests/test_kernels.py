"""The motion search's fused CPU kernel (model/kernels.c) against its torch reference (motion._mismatch's
expression, what a GPU runs), and the search's vectors with and without it."""
import pytest
import torch

from convlstm.model import box, kernels, motion
from test_motion import steady, texture


@pytest.fixture
def reference():
    """Runs the torch expression instead of the kernel inside the block."""
    def run(fn, *args):
        kernels.ENABLED = False
        try:
            return fn(*args)
        finally:
            kernels.ENABLED = True
    return run


def torch_mismatch(a, b, v, t):
    t = motion._per_sample(t)
    return (motion.sample_each(a, v, -t) - motion.sample_each(b, v, 1 - t)).abs().sum(2)


def test_the_installed_package_has_the_kernel():
    assert kernels.instruction_set() in ("avx2", "scalar")


@pytest.mark.parametrize("h, w", [(37, 53), (16, 1100)])     # odd sizes (not whole vectors of 8); a wide row
def test_the_kernel_reads_as_grid_sample_does(h, w):
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(2, 3, h, w, generator=g), torch.rand(2, 3, h, w, generator=g)
    fields = {
        "per pixel, far outside the frame too": torch.randn(2, 4, 2, h, w, generator=g) * 20,
        "one vector a field (expanded: no stride)": (torch.randn(1, 5, 2, 1, 1, generator=g) * 7).expand(2, 5, 2, h, w),
        "one set for the batch": torch.randn(1, 3, 2, h, w, generator=g) * 3,
        "not contiguous": (torch.randn(2, 2, h, w, 3, generator=g) * 5).permute(0, 4, 1, 2, 3),
        "whole px": torch.randint(-4, 5, (2, 3, 2, h, w), generator=g).float(),
    }
    for t in (0.5, 1 / 3, torch.tensor([0.25, 0.8]).view(2, 1, 1, 1)):
        for name, v in fields.items():
            got = kernels.bilinear_mismatch(a, b, v, t)
            want = torch_mismatch(a, b, v, t)
            assert got is not None and got.shape == want.shape == (2, v.shape[1], h, w), name
            # grid_sample goes through -1..1 units and back: its positions are off by ~1e-5 px
            assert (got - want).abs().max() < 1e-3, (name, t)


@pytest.mark.parametrize("shape", [(1, 1089, 45, 80), (2, 3, 37, 53), (1, 1, 3, 2000), (4, 1, 1), (5, 7)])
@pytest.mark.parametrize("side", [1, 5, 9])
def test_block_means_are_avg_pools_without_the_padding(shape, side, reference):
    """Windows wider than the frame, one-row frames, many planes split between threads at any row."""
    x = torch.rand(shape, generator=torch.Generator().manual_seed(side))
    got = box.block_mean(x, side)
    want = reference(box.block_mean, x, side)
    assert got.shape == x.shape and (got - want).abs().max() < 1e-6
    if len(shape) == 4:
        pooled = torch.nn.functional.avg_pool2d(x, side, stride=1, padding=side // 2, count_include_pad=False)
        assert (got - pooled).abs().max() < 1e-6


def test_the_kernel_steps_aside_where_it_cannot_run():
    a = torch.rand(1, 3, 8, 8)
    v = torch.zeros(1, 1, 2, 8, 8)
    assert kernels.bilinear_mismatch(a.double(), a.double(), v.double(), 0.5) is None
    assert kernels.bilinear_mismatch(a, a, torch.zeros(1, 1, 2, 4, 4), 0.5) is None       # another size
    assert kernels.bilinear_mismatch(a, a, torch.zeros(1, 0, 2, 8, 8), 0.5).shape == (1, 0, 8, 8)   # no candidates
    with torch.enable_grad():
        assert kernels.bilinear_mismatch(a.requires_grad_(), a, v, 0.5) is None          # no gradient here


def test_the_search_finds_the_same_motion_with_the_kernel(reference):
    """Float rounding may break a near tie the other way; the vectors must still agree almost everywhere."""
    base = texture(128, 192, seed=3)
    seq = steady(base, 13.0, -5.5)
    fast = motion.estimate_motion(seq[:, 1], seq[:, 2], outer=(seq[:, 0], seq[:, 3]))
    slow = reference(motion.estimate_motion, seq[:, 1], seq[:, 2], 0.5, (seq[:, 0], seq[:, 3]))
    apart = (fast - slow).abs().amax(1)
    assert (apart > 0.25).float().mean() < 0.005
    inner = fast[..., 16:-16, 24:-24]
    assert (inner - torch.tensor([13.0, -5.5]).view(1, 2, 1, 1)).abs().amax(1).median() < 0.2


def test_the_bench_counts_what_a_gpu_runs():
    """The counts of operations and bytes (evaluate/flops.py) are of the torch expression, the GPU's path:
    under a dispatch mode the kernel steps aside."""
    from torch.utils.flop_counter import FlopCounterMode
    a = torch.rand(1, 3, 8, 8)
    with FlopCounterMode(display=False):
        assert kernels.bilinear_mismatch(a, a, torch.zeros(1, 1, 2, 8, 8), 0.5) is None


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")   # the point here
def test_a_forked_child_runs_the_kernels():
    """The rows are split with a thread pool; a child forked after it was made has none of its threads.
    (The child checks with numpy: torch's own OpenMP pool may not run in a forked child.)"""
    import os
    a = torch.rand(1, 3, 64, 640)
    v = torch.zeros(1, 4, 2, 64, 640)
    if torch.get_num_threads() < 2:
        pytest.skip("one thread: the kernels split no rows")
    assert kernels.bilinear_mismatch(a, a, v, 0.5) is not None                # the pool exists now
    pid = os.fork()
    if pid == 0:                                   # the child: exit 0 only if the kernel finished
        ok = False
        try:
            ok = not kernels.bilinear_mismatch(a, a, v, 0.5).numpy().any()
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize("shape", [(1, 25, 37, 53), (2, 1089, 9, 16), (3, 1, 4, 4), (2, 9, 1, 300)])
def test_the_cheapest_candidate_is_torchs_min(shape):
    """Values and first indices of min(1), ties and NaN (which torch counts as the smallest) included."""
    g = torch.Generator().manual_seed(shape[1])
    for cost in (torch.rand(shape, generator=g), torch.randint(0, 3, shape, generator=g).float()):
        if shape[1] > 2:
            cost[:, 2, 0, 0] = cost[:, 1, 0, 0] = float("nan")
        value, index = kernels.min_over_candidates(cost)
        want_value, want_index = cost.min(1, keepdim=True)
        assert torch.equal(index, want_index) and torch.equal(value.nan_to_num(-1), want_value.nan_to_num(-1))
