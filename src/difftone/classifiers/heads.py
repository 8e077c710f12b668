"""The classification head shared by the teacher, the distilled student and the baseline.

Paper, section IV-B: "a classification head composed of linear layers, a dropout
layer, and an LSTM layer", reading the representation ``[B, T', feature_dim]``.
"""

from __future__ import annotations

import torch
from torch import nn


class ClassifierHead(nn.Module):
    """``[B, T', feature_dim] -> logits [B, n_classes]``: linear, ReLU, dropout, LSTM, linear."""

    def __init__(self, feature_dim: int, n_classes: int, hidden: int = 64, lstm_size: int = 64, dropout: float = 0.3):
        super().__init__()
        self.config = dict(
            feature_dim=feature_dim, n_classes=n_classes, hidden=hidden, lstm_size=lstm_size, dropout=dropout
        )
        self.inp = nn.Linear(feature_dim, hidden)
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(hidden, lstm_size, batch_first=True)
        self.out = nn.Linear(lstm_size, n_classes)

    def forward(self, rep: torch.Tensor) -> torch.Tensor:
        if rep.dim() != 3 or rep.shape[-1] != self.config["feature_dim"]:
            raise ValueError(f"head expects [batch, frames, {self.config['feature_dim']}], got {tuple(rep.shape)}")
        h = self.dropout(torch.relu(self.inp(rep)))
        _, (h_n, _) = self.lstm(h)
        return self.out(h_n[-1])
