"""Convolutional LSTM (Shi et al. 2015): the recurrent unit that reads the 4 frames in order."""
from __future__ import annotations

import torch
from torch import nn


class ConvLSTMCell(nn.Module):
    """One time step. A single convolution over [x_t, h_{t-1}] computes all four gates."""

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.hidden_channels = hidden_channels
        self.gates = nn.Conv2d(in_channels + hidden_channels, 4 * hidden_channels, kernel_size,
                               padding=kernel_size // 2)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        h, c = state
        i, f, o, g = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class ConvLSTM(nn.Module):
    """Runs a cell over a (B, T, C, H, W) sequence from zero state; returns every hidden state."""

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.cell = ConvLSTMCell(in_channels, hidden_channels, kernel_size)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        b, t, _, h, w = seq.shape
        hc = self.cell.hidden_channels
        state = (seq.new_zeros(b, hc, h, w), seq.new_zeros(b, hc, h, w))
        outputs = []
        for step in range(t):
            state = self.cell(seq[:, step], state)
            outputs.append(state[0])
        return torch.stack(outputs, dim=1)
