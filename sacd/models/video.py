"""Video students: 3-D CNNs over infrared clips, built from scratch.

Input is ``(B, C, T, H, W)``: ``C`` channels (1 for grayscale IR, 3 also works),
``T`` frames of ``H x W`` pixels. Every student shares one tail: global average
pool -> ``proj`` to ``embed_dim`` -> ``head``, so distillers can swap students
without caring which trunk sits underneath.

``R2Plus1D`` is the paper's student (R(2+1)D-18 by default); ``X3D`` is a small
X3D-XS-like net for CPU runs. Both are assembled from pytorchvideo layers.
"""

from __future__ import annotations

import warnings

from torch import Tensor, nn

with warnings.catch_warnings():
    # pytorchvideo decorates a helper with torch.jit.script, which newer torch flags.
    warnings.simplefilter("ignore", FutureWarning)
    from pytorchvideo.layers.convolutions import create_conv_2plus1d
    from pytorchvideo.models.x3d import create_x3d_res_stage, create_x3d_stem

__all__ = ["VideoStudent", "R2Plus1D", "X3D"]


class VideoStudent(nn.Module):
    """Common tail and timm-like interface of every video student.

    Subclasses build ``stem`` and ``stages`` (and whatever else their trunk
    needs), implement ``forward_trunk`` returning a 5-D map, and call
    ``_build_tail`` with that map's channel count.
    """

    feature_paths: tuple[str, ...] = ()

    def __init__(self, in_chans: int, num_classes: int, embed_dim: int, dropout: float) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.embed_dim = embed_dim
        self.dropout = dropout

    def _build_tail(self, trunk_dim: int) -> None:
        """Pool, project to ``embed_dim`` (identity when sizes agree) and classify."""
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.drop = nn.Dropout(self.dropout)
        self.proj = (
            nn.Identity() if trunk_dim == self.embed_dim else nn.Linear(trunk_dim, self.embed_dim)
        )
        self.head = nn.Linear(self.embed_dim, self.num_classes)

    def _init_weights(self) -> None:
        """He init for convs; residual branches end in a zero-gamma BN so each
        block starts as identity, which helps deep nets train from scratch."""
        for m in self.modules():
            if isinstance(m, (nn.Conv3d, nn.Conv2d, nn.Conv1d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                nn.init.constant_(m.weight, 0.0 if getattr(m, "block_final_bn", False) else 1.0)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward_trunk(self, x: Tensor) -> Tensor:
        """Last feature map ``(B, C', T', H', W')`` before pooling."""
        raise NotImplementedError

    def _check_input(self, x: Tensor) -> None:
        if x.ndim != 5 or x.shape[1] != self.in_chans:
            raise ValueError(
                f"{type(self).__name__} expects video shaped (batch, {self.in_chans} channels, "
                f"frames, height, width), got {tuple(x.shape)}"
            )

    def forward_features(self, x: Tensor) -> Tensor:
        """Pooled embedding ``(B, embed_dim)`` of a clip ``(B, C, T, H, W)``."""
        self._check_input(x)
        pooled = self.pool(self.forward_trunk(x)).flatten(1)
        return self.proj(self.drop(pooled))

    def forward(self, x: Tensor) -> Tensor:
        """Class logits ``(B, num_classes)``."""
        return self.head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """Swap in a fresh head (timm convention: 0 classes gives an identity head)."""
        self.num_classes = num_classes
        ref = next(self.parameters())
        self.head = (
            nn.Linear(self.embed_dim, num_classes, device=ref.device, dtype=ref.dtype)
            if num_classes > 0
            else nn.Identity()
        )


def _mid_channels(in_ch: int, out_ch: int, t: int = 3, d: int = 3) -> int:
    """Inner width of a (2+1)D conv that matches the parameters of a full t x d x d conv."""
    return max(1, (t * d * d * in_ch * out_ch) // (d * d * in_ch + t * out_ch))


def _conv2plus1d(in_ch: int, out_ch: int, stride: tuple[int, int, int]) -> nn.Module:
    """3x3x3 conv factorised into 1x3x3 spatial, BN, ReLU, 3x1x1 temporal."""
    return create_conv_2plus1d(
        in_channels=in_ch,
        out_channels=out_ch,
        inner_channels=_mid_channels(in_ch, out_ch),
        conv_xy_first=True,
        kernel_size=(3, 3, 3),
        stride=stride,
        padding=(1, 1, 1),
    )


class BasicBlock2plus1d(nn.Module):
    """Two (2+1)D 3x3x3 convs with a residual connection (ResNet basic block).

    The shortcut is a strided 1x1x1 conv + BN whenever channels or stride change.
    Padding 1 on every axis keeps at least one frame even when time is striding
    past its length.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: tuple[int, int, int] = (1, 1, 1)) -> None:
        super().__init__()
        self.conv1 = _conv2plus1d(in_ch, out_ch, stride)
        self.bn1 = nn.BatchNorm3d(out_ch)
        self.conv2 = _conv2plus1d(out_ch, out_ch, (1, 1, 1))
        self.bn2 = nn.BatchNorm3d(out_ch)
        self.bn2.block_final_bn = True
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = (
            nn.Identity()
            if in_ch == out_ch and stride == (1, 1, 1)
            else nn.Sequential(
                nn.Conv3d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm3d(out_ch)
            )
        )

    def forward(self, x: Tensor) -> Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + self.shortcut(x))


class R2Plus1D(VideoStudent):
    """R(2+1)D ResNet (18 layers by default, ~31 M parameters).

    Stem: (2+1)D 3x7x7 conv with spatial stride 2, no max-pool (a 112x112 clip
    leaves the stem at 56x56). Every stage after the first halves time and
    space; padding keeps at least one frame, so 4-frame clips still run.

    Args:
        in_chans: input channels (1 for grayscale IR).
        num_classes: sleep stages to score.
        widths: channels of each stage.
        blocks: residual blocks per stage.
        embed_dim: size of the pooled embedding.
        dropout: dropout on the pooled trunk features.
    """

    def __init__(
        self,
        in_chans: int = 1,
        num_classes: int = 5,
        widths: tuple[int, ...] = (64, 128, 256, 512),
        blocks: tuple[int, ...] = (2, 2, 2, 2),
        embed_dim: int = 512,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(in_chans, num_classes, embed_dim, dropout)
        if len(widths) != len(blocks) or not widths:
            raise ValueError(f"widths {widths} and blocks {blocks} must be non-empty, same length")
        self.widths = tuple(widths)
        self.blocks = tuple(blocks)
        stem_mid = max(1, (45 * widths[0]) // 64)  # 45 at width 64, as in R(2+1)D
        self.stem = nn.Sequential(
            create_conv_2plus1d(
                in_channels=in_chans,
                out_channels=widths[0],
                inner_channels=stem_mid,
                conv_xy_first=True,
                kernel_size=(3, 7, 7),
                stride=(1, 2, 2),
                padding=(1, 3, 3),
            ),
            nn.BatchNorm3d(widths[0]),
            nn.ReLU(inplace=True),
        )
        stages = []
        in_ch = widths[0]
        for i, (width, depth) in enumerate(zip(widths, blocks)):
            stride = (1, 1, 1) if i == 0 else (2, 2, 2)
            layers = [BasicBlock2plus1d(in_ch, width, stride)]
            layers += [BasicBlock2plus1d(width, width) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*layers))
            in_ch = width
        self.stages = nn.Sequential(*stages)
        self.feature_paths = ("stem",) + tuple(f"stages.{i}" for i in range(len(widths)))
        self._build_tail(widths[-1])
        self._init_weights()

    def forward_trunk(self, x: Tensor) -> Tensor:
        return self.stages(self.stem(x))


class X3D(VideoStudent):
    """Small X3D-style net (X3D-XS-like by default, ~2.3 M parameters).

    ``depths`` are the literal block counts. X3D-XS's are (3, 5, 11, 7), which
    pytorchvideo writes as base depths (1, 2, 5, 3) times a depth factor of 2.2
    (rounded up); pass the expanded numbers here.

    Depthwise-separable bottleneck stages come from pytorchvideo; there is no
    temporal stride anywhere (as in X3D) and each stage halves space. A 1x1x1 expansion
    (``conv5``, width x ``bottleneck_factor``) precedes pooling, as in X3D.

    Args:
        in_chans: input channels (1 for grayscale IR).
        num_classes: sleep stages to score.
        widths: output channels of each stage.
        depths: bottleneck blocks per stage.
        bottleneck_factor: inner width of each bottleneck relative to its output.
        stem_width: channels out of the stem.
        embed_dim: size of the pooled embedding.
        dropout: dropout on the pooled trunk features.
    """

    def __init__(
        self,
        in_chans: int = 1,
        num_classes: int = 5,
        widths: tuple[int, ...] = (24, 48, 96, 192),
        depths: tuple[int, ...] = (3, 5, 11, 7),
        bottleneck_factor: float = 2.25,
        stem_width: int = 24,
        embed_dim: int = 512,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(in_chans, num_classes, embed_dim, dropout)
        if len(widths) != len(depths) or not widths:
            raise ValueError(f"widths {widths} and depths {depths} must be non-empty, same length")
        self.widths = tuple(widths)
        self.depths = tuple(depths)
        self.stem = create_x3d_stem(
            in_channels=in_chans,
            out_channels=stem_width,
            conv_kernel_size=(5, 3, 3),
            conv_stride=(1, 2, 2),
            conv_padding=(2, 1, 1),
        )
        stages = []
        in_ch = stem_width
        for width, depth in zip(widths, depths):
            stages.append(
                create_x3d_res_stage(
                    depth=depth,
                    dim_in=in_ch,
                    dim_inner=int(bottleneck_factor * width),
                    dim_out=width,
                    conv_stride=(1, 2, 2),
                    inner_act=nn.SiLU,  # same function as pytorchvideo's Swish, native kernel
                )
            )
            in_ch = width
        self.stages = nn.Sequential(*stages)
        expanded = int(bottleneck_factor * widths[-1])
        self.conv5 = nn.Sequential(
            nn.Conv3d(widths[-1], expanded, 1, bias=False),
            nn.BatchNorm3d(expanded),
            nn.ReLU(inplace=True),
        )
        self.feature_paths = ("stem",) + tuple(f"stages.{i}" for i in range(len(widths)))
        self._build_tail(expanded)
        self._init_weights()

    def forward_trunk(self, x: Tensor) -> Tensor:
        return self.conv5(self.stages(self.stem(x)))
