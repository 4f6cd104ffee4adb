"""Convolutional LSTM (Shi et al. 2015): the recurrent unit that reads the 4 frames in order."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvLSTMCell(nn.Module):
    """One time step. A single convolution over [x_t, h_{t-1}] computes all four gates."""

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.hidden_channels = hidden_channels
        self.gates = nn.Conv2d(in_channels + hidden_channels, 4 * hidden_channels, kernel_size,
                               padding=kernel_size // 2)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step; ``state`` None is the zero state of the first step, whose half of the convolution
        and forget gate are skipped (they read zeros). Each gate is its own convolution (``_gate``) over
        the same input, with its rows of the one weight: the same sums, and each gate's picture a tensor
        of its own, where the four as one output's channel slices cost a copy or a strided pass each
        (learned part at 640x360, bf16 on this project's 2-core CPU: 0.387 -> 0.312 s; 0.263 with
        channels-last activations, which read slices across channels). f c + i g is one multiply-add."""
        if state is None:
            inputs, width = x, x.shape[1]
        else:
            inputs, width = torch.cat([x, state[0]], dim=1), None
        i = torch.sigmoid(self._gate(inputs, 0, width))
        c = i * torch.tanh(self._gate(inputs, 3, width))
        # the cell state keeps the input's precision under autocast (bf16 gates, float32 frames), as a zero
        # state of the input's dtype did: c accumulates over the steps
        if state is None:
            c = c.to(x.dtype)
        else:
            c = torch.addcmul(c, torch.sigmoid(self._gate(inputs, 1, width)), state[1])
        return torch.sigmoid(self._gate(inputs, 2, width)) * torch.tanh(c), c

    def _gate(self, inputs: torch.Tensor, k: int, width: int | None) -> torch.Tensor:
        """Gate k (0 input, 1 forget, 2 output, 3 candidate) before its activation: the convolution with
        rows k n .. (k + 1) n of ``gates``, over the first ``width`` input channels (None: all)."""
        n = self.hidden_channels
        weight = self.gates.weight[k * n:(k + 1) * n]
        if width is not None:
            weight = weight[:, :width]
        return F.conv2d(inputs, weight, self.gates.bias[k * n:(k + 1) * n], padding=self.gates.padding)


class ConvLSTM(nn.Module):
    """Runs a cell over a (B, T, C, H, W) sequence from zero state; returns every hidden state."""

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.cell = ConvLSTMCell(in_channels, hidden_channels, kernel_size)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        t = seq.shape[1]
        state = None
        outputs = []
        for step in range(t):
            state = self.cell(seq[:, step], state)
            outputs.append(state[0])
        return torch.stack(outputs, dim=1)
