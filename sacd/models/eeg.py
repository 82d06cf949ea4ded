"""EEG teacher: an AttnSleep-style single-epoch encoder.

The network reads one scored epoch of EEG, ``(B, C, S)`` with ``S`` samples at
``sample_rate`` Hz, and returns class logits. Its pooled embedding
(``forward_features``) is what the distillers transfer to the video student.

Layout (shallow to deep, every stage a module path usable by forward hooks):

``branch_fine``   small first kernel (0.5 s, stride 1/16 s): spindles, alpha
``branch_coarse`` large first kernel (4 s, stride 0.5 s): slow waves, K-complexes
``fuse``          squeeze-and-excitation residual block over both branches
``encoder``       transformer over the time tokens (one per second by default)
``proj``          mean over tokens -> ``embed_dim`` embedding
``head``          linear classifier
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["AttnSleep"]


def _conv_bn_gelu(in_ch: int, out_ch: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    """Conv1d -> BatchNorm -> GELU; 'same'-style padding so short inputs survive."""
    return [
        nn.Conv1d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm1d(out_ch),
        nn.GELU(),
    ]


def _branch(
    in_ch: int,
    width: int,
    first_kernel: int,
    first_stride: int,
    num_tokens: int,
    dropout: float,
) -> nn.Sequential:
    """One temporal branch; its first kernel sets which rhythms it resolves.

    Output is ``(B, width, num_tokens)`` so both branches line up token by token.
    """
    hidden = 2 * width
    return nn.Sequential(
        *_conv_bn_gelu(in_ch, width, first_kernel, first_stride),
        # padding 1 keeps at least one step even for a single input step
        nn.MaxPool1d(kernel_size=3, stride=2, padding=1),
        nn.Dropout(dropout),
        *_conv_bn_gelu(width, hidden, 7),
        *_conv_bn_gelu(hidden, width, 7),
        nn.AdaptiveAvgPool1d(num_tokens),
    )


class SEResidualBlock1d(nn.Module):
    """Residual conv block whose channels are re-weighted by squeeze-and-excitation.

    Lets the network decide, per epoch, how much to trust the fine versus the
    coarse branch before the transformer mixes time steps.
    """

    def __init__(self, in_ch: int, out_ch: int, reduction: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *_conv_bn_gelu(in_ch, out_ch, 3),
            nn.Conv1d(out_ch, out_ch, 3, padding=1, bias=False),
            nn.BatchNorm1d(out_ch),
        )
        squeezed = max(4, out_ch // reduction)
        self.se = nn.Sequential(
            nn.AdaptiveAvgPool1d(1),
            nn.Conv1d(out_ch, squeezed, 1),
            nn.ReLU(inplace=True),
            nn.Conv1d(squeezed, out_ch, 1),
            nn.Sigmoid(),
        )
        self.skip = (
            nn.Identity()
            if in_ch == out_ch
            else nn.Sequential(nn.Conv1d(in_ch, out_ch, 1, bias=False), nn.BatchNorm1d(out_ch))
        )
        self.act = nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        y = self.body(x)
        return self.act(y * self.se(y) + self.skip(x))


class TokenEncoder(nn.Module):
    """Transformer over time tokens that keeps the channel-first layout.

    Takes and returns ``(B, d_model, num_tokens)`` so a forward hook on it sees
    the same layout as the conv stages before it.
    """

    def __init__(
        self, d_model: int, num_heads: int, num_layers: int, num_tokens: int, dropout: float
    ) -> None:
        super().__init__()
        self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens, d_model))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        layer = nn.TransformerEncoderLayer(
            d_model=d_model,
            nhead=num_heads,
            dim_feedforward=2 * d_model,
            dropout=dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,  # pre-norm trains stably from scratch
        )
        self.transformer = nn.TransformerEncoder(
            layer,
            num_layers=num_layers,
            norm=nn.LayerNorm(d_model),
            enable_nested_tensor=False,
        )

    def forward(self, x: Tensor) -> Tensor:
        tokens = x.transpose(1, 2) + self.pos_embed
        return self.transformer(tokens).transpose(1, 2)


class AttnSleep(nn.Module):
    """AttnSleep-style EEG encoder with a timm-like interface.

    Kernel sizes are given in seconds and converted with ``sample_rate`` so the
    same receptive fields (in time) hold at 100, 128 or 256 Hz. At 100 Hz the
    first kernels are 50/6 and 400/50 samples; at 128 Hz 64/8 and 512/64.

    Args:
        in_channels: EEG derivations per input.
        num_classes: sleep stages to score.
        sample_rate: sampling rate of the input in Hz.
        embed_dim: size of the pooled embedding.
        width: channels out of each conv branch.
        d_model: transformer width.
        num_heads: attention heads.
        num_layers: transformer layers.
        num_tokens: time tokens per input (30 = one per second of a 30 s epoch).
        dropout: dropout rate in the branches, transformer and projection.
    """

    feature_paths: tuple[str, ...] = ("branch_fine", "branch_coarse", "fuse", "encoder")

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 5,
        sample_rate: float = 128.0,
        embed_dim: int = 512,
        width: int = 64,
        d_model: int = 128,
        num_heads: int = 4,
        num_layers: int = 2,
        num_tokens: int = 30,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive (Hz), got {sample_rate}")
        if d_model % num_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by num_heads ({num_heads})")
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.sample_rate = float(sample_rate)
        self.embed_dim = embed_dim
        self.num_tokens = num_tokens

        def samples(seconds: float, minimum: int) -> int:
            return max(minimum, round(seconds * self.sample_rate))

        self.branch_fine = _branch(
            in_channels, width, samples(0.5, 3), samples(1 / 16, 1), num_tokens, dropout
        )
        self.branch_coarse = _branch(
            in_channels, width, samples(4.0, 3), samples(0.5, 1), num_tokens, dropout
        )
        self.fuse = SEResidualBlock1d(2 * width, d_model)
        self.encoder = TokenEncoder(d_model, num_heads, num_layers, num_tokens, dropout)
        self.proj = nn.Sequential(nn.Linear(d_model, embed_dim), nn.GELU(), nn.Dropout(dropout))
        self.head = nn.Linear(embed_dim, num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        """Pooled embedding ``(B, embed_dim)`` of EEG ``(B, C, S)``."""
        if x.ndim != 3 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"AttnSleep expects EEG shaped (batch, {self.in_channels} channels, samples), "
                f"got {tuple(x.shape)}; add a channel axis with x.unsqueeze(1) if it is missing"
            )
        tokens = torch.cat([self.branch_fine(x), self.branch_coarse(x)], dim=1)
        tokens = self.encoder(self.fuse(tokens))
        return self.proj(tokens.mean(dim=2))

    def forward(self, x: Tensor) -> Tensor:
        """Class logits ``(B, num_classes)``."""
        return self.head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """Swap in a fresh head (timm convention: 0 classes gives an identity head)."""
        self.num_classes = num_classes
        ref = self.proj[0].weight
        self.head = (
            nn.Linear(self.embed_dim, num_classes, device=ref.device, dtype=ref.dtype)
            if num_classes > 0
            else nn.Identity()
        )
