"""Convolutional LSTM (Shi et al. 2015): the recurrent unit that reads the 4 frames in order."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import kernels


class ConvLSTMCell(nn.Module):
    """One time step. A single convolution over [x_t, h_{t-1}] computes all four gates."""

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.hidden_channels = hidden_channels
        self.gates = nn.Conv2d(in_channels + hidden_channels, 4 * hidden_channels, kernel_size,
                               padding=kernel_size // 2)

    def first_gates(self, x: torch.Tensor) -> torch.Tensor:
        """The first step's gates: the convolution's input half alone (h before it is zero)."""
        return F.conv2d(x, self.gates.weight[:, :x.shape[1]], self.gates.bias, padding=self.gates.padding)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step; ``state`` None is the zero state of the first step, whose half of the convolution
        and forget gate are skipped (they read zeros). Each elementwise step is a pass over the frame's
        memory, which a GPU pays for more than for the arithmetic: the three gates' sigmoids are one,
        f c + i g is one multiply-add. On the CPU all of it after the convolution is one kernel
        (``kernels.lstm_cell``: h in the gates' dtype, c in float32); this expression is its reference, and
        what a GPU, training and torch.compile run."""
        n = self.hidden_channels
        if state is None:
            gates = self.first_gates(x)
        else:
            gates = self.gates(torch.cat([x, state[0]], dim=1))
        fused = kernels.lstm_cell(gates, None if state is None else state[1])
        if fused is not None:
            return fused
        ifo = torch.sigmoid(gates[:, :3 * n])
        i, f, o = ifo[:, :n], ifo[:, n:2 * n], ifo[:, 2 * n:]
        c = i * torch.tanh(gates[:, 3 * n:])
        # the cell state keeps the input's precision under autocast (bf16 gates, float32 frames), as a zero
        # state of the input's dtype did: c accumulates over the steps
        c = c.to(x.dtype) if state is None else torch.addcmul(c, f, state[1])
        return o * torch.tanh(c), c


class ConvLSTM(nn.Module):
    """Runs a cell over a (B, T, C, H, W) sequence from zero state; returns every hidden state."""

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.cell = ConvLSTMCell(in_channels, hidden_channels, kernel_size)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        in_place = self._in_place(seq)
        if in_place is not None:
            return in_place
        t = seq.shape[1]
        state = None
        outputs = []
        for step in range(t):
            state = self.cell(seq[:, step], state)
            outputs.append(state[0])
        return torch.stack(outputs, dim=1)

    def _in_place(self, seq: torch.Tensor) -> torch.Tensor | None:
        """forward's steps at inference on the CPU with NHWC activations (the engine's layout there), the
        same values without the copies: the cell kernel writes each h into its step's slot of the output,
        whose steps folded into the batch are then NHWC as they are (the encoder's next convolution reads
        them with no reorder), and into the channels after the input's of the next step's convolution input,
        whose own channels are copied in (what the gates' convolution reads is what torch.cat of the two
        gives, cast as autocast casts it). At 640x352 on one thread in bf16 the stacking, the reorder and
        the concatenations took 25-30 ms of the learned part's 310. None where it does not apply: the
        steps of ``forward`` then run as written (also the reference, and what a GPU and training run)."""
        cell = self.cell
        b, steps, cin, h, w = seq.shape
        if (self.training or not kernels.learned_inputs_here(seq) or (torch.is_grad_enabled() and cell.gates.weight.requires_grad)
                or seq.stride(2) != 1 or seq.stride(4) != cin or seq.stride(3) != w * cin):     # each step NHWC
            return None
        gates = cell.first_gates(seq[:, 0])
        if not gates.is_contiguous(memory_format=torch.channels_last):
            return None
        n, dtype = cell.hidden_channels, gates.dtype
        out = torch.empty((b * steps, n, h, w), dtype=dtype, memory_format=torch.channels_last).unflatten(0, (b, steps))
        joint = torch.empty((b, cin + n, h, w), dtype=dtype, memory_format=torch.channels_last)
        c = None
        for step in range(steps):
            if step:
                joint[:, :cin].copy_(seq[:, step])
                gates = cell.gates(joint)
            fused = kernels.lstm_cell(gates, c, out[:, step], joint[:, cin:] if step + 1 < steps else None)
            if fused is None:       # the kernel declined (not built; an output laid out otherwise than the
                return None         # gates): forward's steps from the start
            c = fused[1]
        return out
