"""The CPU's kernels against their torch references (what a GPU runs): the motion search's (model/kernels.c:
motion._mismatch's expression, block means, each pixel's cheapest candidate) and the search's vectors with and
without them; the ConvLSTM cell's (model/lstm_kernel.c), and the learned part with it."""
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


def cell_and_inputs(hidden: int, layout, seed: int = 0):
    """A ConvLSTM cell with random weights and a step's input and state (h, c), all in ``layout``."""
    from convlstm.model.convlstm import ConvLSTMCell
    torch.manual_seed(seed)
    cell = ConvLSTMCell(3, hidden).eval().to(memory_format=layout)
    for p in cell.parameters():
        torch.nn.init.normal_(p, std=0.5)    # gates well into both ends of the sigmoid and tanh
    x, h, c = torch.randn(2, 3, 37, 29), torch.randn(2, hidden, 37, 29), torch.randn(2, hidden, 37, 29) * 2
    return cell, *(v.contiguous(memory_format=layout) for v in (x, h, c))


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("hidden", [8, 5])      # whole vectors of 8; a tail alone (NHWC) / a row's tail (NCHW)
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_cell_kernel_is_the_cells_torch_expression(layout, hidden, precision, reference):
    """First step and later ones; h in the gates' dtype (what the next convolution reads), c in float32,
    both in the gates' layout. In bf16 the torch expression rounds every step to bf16 and the kernel only h:
    they agree to bf16's rounding of values up to 1 (1/128), and where the kernel rounds h, to the float32
    value's nearest bf16."""
    cell, x, h, c = cell_and_inputs(hidden, layout)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        for state in (None, (h, c)):
            got_h, got_c = cell(x, state)
            want_h, want_c = reference(cell, x, state)
            assert got_h.dtype == (torch.bfloat16 if precision == "bf16" else torch.float32)
            assert got_c.dtype == torch.float32
            assert got_h.is_contiguous(memory_format=layout) and got_c.is_contiguous(memory_format=layout)
            tolerance = 1e-6 if precision == "fp32" else 1 / 64
            assert (got_h.float() - want_h.float()).abs().max() < tolerance
            assert (got_c - want_c.float()).abs().max() < 2 * tolerance


def test_the_cell_kernel_steps_aside_where_it_cannot_run():
    """Training (a gradient), another dtype, gates that are a view of no layout it reads, and the bench's
    counts of what a GPU runs (a dispatch mode): the torch expression runs there."""
    from torch.utils.flop_counter import FlopCounterMode
    gates = torch.randn(1, 32, 6, 7)
    assert kernels.lstm_cell(gates, None) is not None
    assert kernels.lstm_cell(gates.double(), None) is None
    assert kernels.lstm_cell(torch.randn(1, 64, 6, 7)[:, ::2], None) is None
    with torch.enable_grad():
        assert kernels.lstm_cell(gates.clone().requires_grad_(), None) is None
    with FlopCounterMode(display=False):
        assert kernels.lstm_cell(gates, None) is None


def test_the_filters_cpu_engine_runs_the_learned_part_nhwc_as_nchw(test_weights, monkeypatch):
    """The CPU's default layout (NHWC, the cell's kernel) makes what NCHW and the torch expression make, to
    float rounding, and leaves the frames it returns NCHW."""
    from convlstm.checkpoint import load_net
    from convlstm.filter.engine import Engine
    frames = torch.rand(2, 4, 3, 40, 56) * 2 - 1
    nhwc = Engine(load_net(test_weights)[0], torch.device("cpu"))
    assert nhwc.memory_format is torch.channels_last and nhwc.net.layout is torch.channels_last
    got = nhwc.predict(frames)
    monkeypatch.setattr(kernels, "lstm_cell", lambda gates, c_prev: None)    # the cell's torch expression
    want = Engine(load_net(test_weights)[0], torch.device("cpu"), channels_last=False).predict(frames)
    assert got.is_contiguous() and (got - want).abs().max() < 1e-4


@pytest.mark.parametrize("t", [0.5, torch.tensor([0.3, 0.7]).view(2, 1, 1, 1)])
@pytest.mark.parametrize("moving_origin", [False, True])
def test_the_offset_search_chooses_as_the_torch_search(t, moving_origin, reference):
    """motion._search's fused pass (every offset of STEPS around each pixel's start, its window mean, prior
    and floor) against the torch expression: the same vectors, but where float rounding breaks a near tie."""
    base = texture(75, 70, seed=5)                 # odd sizes: strips and threads split rows anywhere
    seq = steady(base, 3.0, -2.0)
    a = motion._planes(torch.cat([seq[:, 1], seq[:, 1].flip(-1)]))
    b = motion._planes(torch.cat([seq[:, 2], seq[:, 2].flip(-1)]))
    g = torch.Generator().manual_seed(2)
    start = torch.randn(2, 2, 75, 70, generator=g) * 2 + torch.tensor([3.0, -2.0]).view(1, 2, 1, 1)
    origin = (torch.randn(2, 2, 75, 70, generator=g) if moving_origin else None)
    floor = motion._floor(a, b)
    got = motion._search(a, b, start, t, 2, floor, origin)
    want = reference(motion._search, a, b, start, t, 2, floor, origin)
    assert got.shape == want.shape == (2, 2, 75, 70)
    assert ((got - want).abs().amax(1) > 0).float().mean() < 0.002
    steps = (got - start) * 2                        # an offset of STEPS, in half px
    assert (steps - steps.round()).abs().max() < 1e-4 and steps.round().abs().max() <= 2


def test_the_offset_search_steps_aside_where_it_cannot_run():
    a = torch.rand(1, 3, 8, 8)
    start, floor, offsets = torch.zeros(1, 2, 8, 8), torch.zeros(1, 1, 8, 8), torch.zeros(3, 2)
    assert kernels.offset_search(a, a, start, offsets, 0.5, 0.03, floor, 1.0, None, (5, 9)) is not None
    assert kernels.offset_search(a.double(), a.double(), start.double(), offsets.double(), 0.5, 0.03,
                                 floor.double(), 1.0, None, 5) is None
    assert kernels.offset_search(a, a, torch.zeros(1, 2, 4, 4), offsets, 0.5, 0.03, floor, 1.0, None, 5) is None
    assert kernels.offset_search(a, a, start, offsets[:0], 0.5, 0.03, floor, 1.0, None, 5) is None


@pytest.mark.parametrize("scale", [8, 2])       # half px candidates (a coarse level of 8 frame px) and whole
def test_the_full_search_in_one_pass_is_the_torch_search(scale, reference):
    """motion._full_search through the fused pass (from a start of zero, its window of two sides) against
    the torch expression: the same vectors and costs, but where float rounding breaks a near tie."""
    base = texture(45, 80, seed=7)
    seq = steady(base, 2.5, -1.0)
    a, b = motion._planes(seq[:, 1]), motion._planes(seq[:, 2])
    block = motion._coarse_block(scale)
    floor = motion._floor(a, b, block=block)
    got_v, got_cost = motion._full_search(a, b, 0.5, 4, scale, floor, block)
    want_v, want_cost = reference(motion._full_search, a, b, 0.5, 4, scale, floor, block)
    same = (got_v == want_v).all(1, keepdim=True)
    assert same.float().mean() > 0.998
    # grid_sample's reads (the reference) are off by ~1e-5 px: costs agree to that
    assert ((got_cost - want_cost).abs() / want_cost.abs().clamp_min(1e-3))[same].max() < 1e-3


@pytest.mark.parametrize("shape", [(2, 8, 11, 20), (1, 96, 3, 5), (1, 3, 1, 1), (3, 5, 2, 7)])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_the_decoders_kernel_is_its_torch_expression(shape, dtype):
    """Upsampled 2x and summed with the skip in one pass: in bf16 the same bits as torch's two operations
    (every product and sum of bf16 values with weights of quarters is exact in float), in float32 to
    rounding; NHWC in and out."""
    import torch.nn.functional as F
    g = torch.Generator().manual_seed(5)
    b, c, h, w = shape
    x = (torch.randn(b, c, h, w, generator=g) * 3).to(dtype).contiguous(memory_format=torch.channels_last)
    skip = torch.randn(b, c, 2 * h, 2 * w, generator=g).to(dtype).contiguous(memory_format=torch.channels_last)
    got = kernels.upsample_add(x, skip)
    want = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False) + skip
    assert got.dtype == dtype and got.is_contiguous(memory_format=torch.channels_last)
    if dtype == torch.bfloat16:
        assert torch.equal(got, want)
    else:
        assert (got - want).abs().max() <= 1e-6 * want.abs().max()


def test_the_decoders_kernel_steps_aside_where_it_cannot_run():
    from torch.utils.flop_counter import FlopCounterMode
    x = torch.randn(1, 4, 3, 5).contiguous(memory_format=torch.channels_last)
    skip = torch.randn(1, 4, 6, 10).contiguous(memory_format=torch.channels_last)
    assert kernels.upsample_add(x, skip) is not None
    assert kernels.upsample_add(x.contiguous(), skip.contiguous()) is None      # NCHW (4 channels: a layout apart)
    assert kernels.upsample_add(x, skip[..., :9]) is None                          # not twice the size
    assert kernels.upsample_add(x.double(), skip.double()) is None
    with torch.enable_grad():
        assert kernels.upsample_add(x.clone().requires_grad_(), skip) is None
    with FlopCounterMode(display=False):
        assert kernels.upsample_add(x, skip) is None


@pytest.mark.parametrize("shape", [(4, 3, 23, 37), (1, 3, 1, 1), (2, 1, 5, 2)])
def test_the_detail_kernel_is_its_torch_expression(shape, reference):
    planes = torch.rand(*shape, generator=torch.Generator().manual_seed(2))
    got = motion._detail(planes)
    assert torch.equal(got, reference(motion._detail, planes))
    assert kernels.detail_planes(planes.double()) is None


@pytest.mark.parametrize("part", [((0, 0), (22, 160)), ((30, 138), (40, 22)), ((0, 0), (90, 160))])
def test_the_seen_mismatch_kernel_is_its_torch_expression(part, reference):
    """The edge search's judge (motion._seen_mismatch) on a band, a side strip and the whole frame, vectors
    reaching out of the frame on either side, a time per sample: to float rounding, the same reads left."""
    g = torch.Generator().manual_seed(3)
    at, (h, w) = part
    frames = torch.rand(2, 4, 4, 90, 160, generator=g)
    v = torch.randn(2, 6, 2, h, w, generator=g) * 15
    t = torch.tensor([0.5, 0.3]).view(2, 1, 1, 1)
    got = motion._seen_mismatch(frames, v, t, at)
    want = reference(motion._seen_mismatch, frames, v, t, at)
    torch.testing.assert_close(got[0], want[0], rtol=0, atol=1e-5)
    torch.testing.assert_close(got[1], want[1], rtol=0, atol=1e-5)
    assert torch.equal(got[2], want[2]) and got[2].any() and not got[2].all()
    assert kernels.seen_mismatch(frames.double(), v, t.view(2, 1).expand(2, 4), at) is None
    assert kernels.seen_mismatch(frames, v.requires_grad_(), t.view(2, 1).expand(2, 4), at) is None


def test_batch_norms_folded_at_inference_are_the_three_layers(reference):
    """conv, norm, ReLU as one convolution with a bias at inference, to float rounding; the folded weights
    follow the parameters when they change in place (an adaptation's optimizer step); training runs the
    norm on the batch's own statistics, as before."""
    from convlstm.model.synthesis import ConvBNReLU
    g = torch.Generator().manual_seed(3)
    block = ConvBNReLU(5, 6)
    with torch.no_grad():
        for p in (block[1].weight, block[1].bias, block[1].running_mean):
            p.copy_(torch.randn(p.shape, generator=g))
        block[1].running_var.copy_(torch.rand(6, generator=g) + 0.5)
    x = torch.randn(2, 5, 9, 11, generator=g)
    block.eval()
    with torch.inference_mode():
        folded = block(x)
        layered = torch.nn.Sequential.forward(block, x.clone())
    assert (folded - layered).abs().max() < 1e-5
    with torch.no_grad():
        block[0].weight.mul_(2)                      # in place, as an optimizer step
    with torch.inference_mode():
        assert (block(x) - torch.nn.Sequential.forward(block, x.clone())).abs().max() < 1e-5
    block.train()
    out = block(x)
    assert out.requires_grad and block[1].num_batches_tracked.item() == 1    # the norm ran on the batch


@pytest.mark.parametrize("channels", [16, 5])        # whole vectors of 8 (AVX2); one channel at a time
@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_the_attention_kernels_are_the_blocks_torch_expression(channels, precision):
    """An attention block on the CPU (the channel weights' products, their mean and maximum over the
    channels, the residual sum in two kernels) against its torch expression: in bf16 to bf16's rounding of
    the mean (its sum is ordered otherwise), in float32 to float rounding; NHWC out."""
    from convlstm.model.refinement import AttentionBlock
    torch.manual_seed(4)
    block = AttentionBlock(channels, 1).eval().to(memory_format=torch.channels_last)
    x = torch.randn(2, channels, 13, 21).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        if precision == "bf16":
            x = x.to(torch.bfloat16)
        y = block.body(x)
        weights = block.channel.fc(y)
        assert kernels.scaled_pool(y, weights) is not None
        got = block(x)
        kernels.ENABLED = False
        try:
            want = block(x)
        finally:
            kernels.ENABLED = True
    assert got.dtype == want.dtype and got.is_contiguous(memory_format=torch.channels_last)
    tolerance = 1e-5 if precision == "fp32" else 1 / 32
    assert (got.float() - want.float()).abs().max() <= tolerance * max(1.0, want.float().abs().max().item())


def test_the_attention_kernels_step_aside_where_they_cannot_run():
    from torch.utils.flop_counter import FlopCounterMode
    y = torch.randn(1, 8, 5, 6).contiguous(memory_format=torch.channels_last)
    s, a = torch.rand(1, 8, 1, 1), torch.rand(1, 1, 5, 6)
    assert kernels.scaled_pool(y, s) is not None and kernels.attend(y, y, s, a) is not None
    assert kernels.scaled_pool(y.contiguous(), s) is None                      # NCHW
    assert kernels.scaled_pool(y, s.to(torch.bfloat16)) is None                # mixed dtypes
    assert kernels.attend(y, y, s, a[..., :5]) is None                         # a of another size
    with torch.enable_grad():
        assert kernels.attend(y.clone().requires_grad_(), y, s, a) is None
    with FlopCounterMode(display=False):
        assert kernels.scaled_pool(y, s) is None


@pytest.mark.parametrize("shape", [(2, 16, 13, 21), (1, 5, 7, 3), (3, 8, 2, 1)])    # AVX2; one at a time; 2 px
def test_the_channel_means_are_the_average_pooling(shape):
    """The channel attention's mean over the pixels of bf16 activations in one pass: torch's average pooling
    to at most one step of bf16's rounding (the float32 sum ordered otherwise); float32, NCHW and a wanted
    gradient are left to torch."""
    y = (torch.randn(shape, generator=torch.Generator().manual_seed(6)) + 1).to(torch.bfloat16)
    y = y.contiguous(memory_format=torch.channels_last)
    got = kernels.channel_means(y)
    want = torch.nn.AdaptiveAvgPool2d(1)(y)
    assert got.dtype == torch.bfloat16 and got.shape == want.shape
    assert ((got.float() - want.float()).abs() <= want.float().abs() / 128).all()
    assert kernels.channel_means(y.contiguous()) is None                        # NCHW
    assert kernels.channel_means(y.float()) is None                             # float32: torch's own
    with torch.enable_grad():
        assert kernels.channel_means(y.clone().requires_grad_()) is None


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_the_cell_kernel_writes_h_where_it_is_told(layout):
    """h into a step's slot of a larger output (a batch stride of its own) and again into the channels of
    the next step's input after the input's own: the same values as the h it returns alone; an output
    laid out otherwise than the gates is refused."""
    gates = torch.randn(2, 32, 6, 7).contiguous(memory_format=layout)
    c = torch.randn(2, 8, 6, 7).contiguous(memory_format=layout)
    alone, c_alone = kernels.lstm_cell(gates, c)
    out = torch.zeros(2 * 3, 8, 6, 7).contiguous(memory_format=layout).unflatten(0, (2, 3))
    joint = torch.zeros(2, 3 + 8, 6, 7).contiguous(memory_format=layout)
    h, c_new = kernels.lstm_cell(gates, c, out[:, 1], joint[:, 3:])
    assert torch.equal(h, alone) and torch.equal(out[:, 1], alone) and torch.equal(c_new, c_alone)
    assert torch.equal(joint[:, 3:], alone) and not joint[:, :3].any() and not out[:, 0].any()
    other = torch.channels_last if layout is torch.contiguous_format else torch.contiguous_format
    assert kernels.lstm_cell(gates, c, torch.empty(2, 8, 6, 7).contiguous(memory_format=other)) is None
    assert kernels.lstm_cell(gates, c, torch.empty(2, 8, 6, 7, dtype=torch.float64)) is None


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_convlstm_written_in_place_is_its_steps_stacked(batch, precision, monkeypatch):
    """The ConvLSTM's steps at inference on the CPU, NHWC, with each h written into its output slot and the
    next step's input: the very bits of the steps run one by one, concatenated and stacked (the encoder
    after it too); NCHW and training run those."""
    from convlstm.model.convlstm import ConvLSTM
    from convlstm.model.synthesis import EncoderBlock
    torch.manual_seed(7)
    block = EncoderBlock(3, 8, 3).eval().to(memory_format=torch.channels_last)
    seq = torch.randn(batch * 4, 3, 12, 10).contiguous(memory_format=torch.channels_last).unflatten(0, (batch, 4))
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        assert block.lstm._in_place(seq) is not None
        got_seq, (got_skip, got_pooled) = block.lstm(seq), block(seq)
        monkeypatch.setattr(ConvLSTM, "_in_place", lambda self, seq: None)
        want_seq, (want_skip, want_pooled) = block.lstm(seq), block(seq)
    assert torch.equal(got_seq, want_seq) and torch.equal(got_skip, want_skip) and torch.equal(got_pooled, want_pooled)
    assert got_skip.is_contiguous(memory_format=torch.channels_last)
    monkeypatch.undo()
    with torch.inference_mode():
        assert block.lstm._in_place(seq.flatten(0, 1).contiguous().unflatten(0, (batch, 4))) is None    # NCHW
    block.train()
    assert block.lstm._in_place(seq) is None


def test_time_steps_side_by_side_along_the_channels():
    """NHWC in one pass, as the reshape of the steps folded into the batch gives; NCHW a view."""
    from convlstm.model.synthesis import steps_as_channels
    x = torch.randn(2 * 4, 5, 6, 7)
    want = x.unflatten(0, (2, 4)).flatten(1, 2)
    assert torch.equal(steps_as_channels(x, 4), want) and steps_as_channels(x, 4).data_ptr() == x.data_ptr()
    nhwc = steps_as_channels(x.contiguous(memory_format=torch.channels_last), 4)
    assert torch.equal(nhwc, want) and nhwc.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("shape, side", [((1, 6, 45, 80), 9), ((2, 1, 37, 53), 15), ((1, 3, 5, 4), 9), ((1, 1, 1, 1), 5),
                                         ((2, 2, 7, 30), 4)])       # a window wider than the frame; an even side
def test_the_replicated_box_mean_is_its_slices_to_the_bit(shape, side, reference):
    """box_mean's kernel adds what the torch slices add, in their order, and scales as they do: the same bits."""
    x = torch.randn(shape, generator=torch.Generator().manual_seed(8))
    got = box.box_mean(x, side)
    assert torch.equal(got, reference(box.box_mean, x, side))
    assert kernels.box_mean(x.double(), side) is None


@pytest.mark.parametrize("vector", [(0.3, 0.6), (-1.7, 2.2), (35.0, -4.5)])   # inside; across px; off the right edge
def test_reads_loaded_for_a_run_are_the_gathered_ones(vector):
    """Where the 8 px of a group land on neighbouring px (one vector for all), the kernel loads what it
    would gather: break the runs by moving every eighth px's vector and the other px's mismatch stays the
    same to the bit, up to the last column and row (where no run is taken)."""
    g = torch.Generator().manual_seed(10)
    a, b = torch.rand(1, 3, 19, 45, generator=g), torch.rand(1, 3, 19, 45, generator=g)
    v = torch.tensor(vector).view(1, 1, 2, 1, 1).expand(1, 1, 2, 19, 45).contiguous()
    broken = v.clone()
    broken[..., ::8] += 3.0
    runs, gathers = kernels.bilinear_mismatch(a, b, v, 0.5), kernels.bilinear_mismatch(a, b, broken, 0.5)
    kept = torch.ones(45, dtype=torch.bool)
    kept[::8] = False
    assert torch.equal(runs[..., kept], gathers[..., kept])


def test_a_grid_in_two_halves_is_the_one_multiply_add():
    """motion._grid on the CPU (x and y into their halves) against addcmul over the permuted fields, with
    a float's multiple and a tensor of multiples."""
    g = torch.Generator().manual_seed(11)
    v = torch.randn(2, 3, 2, 7, 9, generator=g) * 4
    unit = motion._unit_grid(7, 9, v)
    for along in (0.5, torch.rand(2, 3, generator=g)):
        units = motion._units(7, 9, v, along)
        assert torch.equal(motion._grid(unit, v, units), torch.addcmul(unit, v.permute(0, 1, 3, 4, 2), units))
