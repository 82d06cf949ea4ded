"""Shape, interface and trainability checks for the teacher and student networks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sacd.models import AttnSleep, R2Plus1D, VideoStudent, X3D, create_student, list_students


def tiny_attnsleep(**kw) -> AttnSleep:
    args = dict(width=8, d_model=16, num_heads=2, num_layers=1, embed_dim=16, num_tokens=10)
    return AttnSleep(**{**args, **kw})


def tiny_x3d(**kw) -> X3D:
    return X3D(**{**dict(widths=(8, 16), depths=(1, 1), stem_width=8, embed_dim=16), **kw})


def tiny_r2plus1d(**kw) -> R2Plus1D:
    return R2Plus1D(**{**dict(widths=(8, 16), blocks=(1, 1), embed_dim=16), **kw})


VIDEO_FACTORIES = [tiny_x3d, tiny_r2plus1d]


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("factory", VIDEO_FACTORIES)
@pytest.mark.parametrize("in_chans", [1, 3])
def test_video_shapes_train_and_eval(factory, in_chans):
    torch.manual_seed(0)
    model = factory(in_chans=in_chans, num_classes=5)
    assert isinstance(model, VideoStudent)
    assert model.embed_dim == 16 and model.num_classes == 5
    assert isinstance(model.head, nn.Linear)
    model.train()
    x = torch.randn(2, in_chans, 4, 32, 32)
    assert model.forward_features(x).shape == (2, 16)
    assert model(x).shape == (2, 5)
    model.eval()
    one = torch.randn(1, in_chans, 4, 32, 32)
    with torch.no_grad():
        feats = model.forward_features(one)
        logits = model(one)
    assert feats.shape == (1, 16) and logits.shape == (1, 5)
    assert torch.isfinite(logits).all()
    torch.testing.assert_close(logits, model.head(feats))


@pytest.mark.parametrize("frames", [4, 8, 16])
@pytest.mark.parametrize("size", [32, 64])
def test_video_clip_sizes(frames, size):
    deep_r2plus1d = tiny_r2plus1d(widths=(8, 8, 8, 8), blocks=(1, 1, 1, 1))
    for model in (tiny_x3d().eval(), deep_r2plus1d.eval()):
        with torch.no_grad():
            assert model(torch.randn(1, 1, frames, size, size)).shape == (1, 5)


def test_video_rejects_wrong_channels():
    with pytest.raises(ValueError, match="channels"):
        tiny_x3d(in_chans=1)(torch.randn(2, 3, 4, 32, 32))


@pytest.mark.parametrize("sample_rate", [100.0, 128.0, 256.0])
@pytest.mark.parametrize("seconds", [2, 30])
def test_attnsleep_sample_rates(sample_rate, seconds):
    torch.manual_seed(0)
    model = AttnSleep(sample_rate=sample_rate).eval()
    assert model.embed_dim == 512 and model.num_classes == 5
    x = torch.randn(1, 1, int(seconds * sample_rate))
    with torch.no_grad():
        feats = model.forward_features(x)
        logits = model(x)
    assert feats.shape == (1, 512) and logits.shape == (1, 5)
    torch.testing.assert_close(logits, model.head(feats))


def test_attnsleep_train_mode_multichannel():
    model = tiny_attnsleep(in_channels=2).train()
    out = model(torch.randn(2, 2, 3840))
    assert out.shape == (2, 5)
    with pytest.raises(ValueError, match="channels"):
        model(torch.randn(2, 3840))


def test_attnsleep_default_size_is_small():
    # cheap enough to be a frozen teacher whose outputs get recomputed or cached
    assert 0.3e6 < n_params(AttnSleep()) < 3e6


def _all_nets() -> list[nn.Module]:
    return [tiny_attnsleep(), tiny_x3d(), tiny_r2plus1d()]


@pytest.mark.parametrize("idx", range(3))
def test_reset_classifier(idx):
    model = _all_nets()[idx].eval()
    x = torch.randn(1, 1, 3840) if isinstance(model, AttnSleep) else torch.randn(1, 1, 4, 32, 32)
    old_head = model.head
    model.reset_classifier(3)
    assert model.num_classes == 3 and model.head is not old_head
    assert isinstance(model.head, nn.Linear) and model.head.in_features == model.embed_dim
    with torch.no_grad():
        assert model(x).shape == (1, 3)
    model.reset_classifier(0)  # timm convention: logits become the embedding
    with torch.no_grad():
        assert model(x).shape == (1, model.embed_dim)


@pytest.mark.parametrize("idx", range(3))
def test_feature_paths_hookable(idx):
    model = _all_nets()[idx].train()
    is_eeg = isinstance(model, AttnSleep)
    x = torch.randn(2, 1, 3840) if is_eeg else torch.randn(2, 1, 4, 32, 32)
    modules = dict(model.named_modules())
    assert len(model.feature_paths) >= 3
    shapes: dict[str, torch.Size] = {}
    seen: dict[str, tuple[torch.Tensor, int]] = {}
    handles = []
    for path in model.feature_paths:
        assert path in modules, f"{path} missing from named_modules()"

        def hook(_m, _inp, out, path=path):
            assert isinstance(out, torch.Tensor)
            shapes[path] = out.shape
            seen[path] = (out, out._version)

        handles.append(modules[path].register_forward_hook(hook))
    model(x)
    for h in handles:
        h.remove()
    assert list(shapes) == list(model.feature_paths)
    # a hooked map must not be overwritten in place later (hint losses backprop through it)
    for path, (out, version) in seen.items():
        assert out._version == version, f"{path} output modified in place"
    for path, shape in shapes.items():
        assert len(shape) == (3 if is_eeg else 5), (path, shape)
        assert shape[0] == 2
    if is_eeg:
        assert shapes["encoder"] == (2, 16, 10)  # (B, d_model, num_tokens)
    else:
        # deeper maps are never larger in space
        sizes = [s[-1] for s in shapes.values()]
        assert sizes == sorted(sizes, reverse=True)


def test_video_feature_paths_follow_stages():
    assert tiny_x3d().feature_paths == ("stem", "stages.0", "stages.1")
    assert R2Plus1D(widths=(8, 8, 8), blocks=(1, 1, 1)).feature_paths == (
        "stem",
        "stages.0",
        "stages.1",
        "stages.2",
    )


def test_default_parameter_counts():
    r2 = R2Plus1D()
    x3 = X3D()
    assert 25e6 < n_params(r2) < 40e6
    assert 1.5e6 < n_params(x3) < 5e6
    assert isinstance(r2.proj, nn.Identity) and r2.embed_dim == 512
    assert x3.proj.out_features == 512


@pytest.mark.parametrize("idx", range(3))
def test_tiny_net_overfits(idx):
    torch.manual_seed(0)
    model = _all_nets()[idx].train()
    if isinstance(model, AttnSleep):
        x = torch.randn(8, 1, 3840)
    else:
        x = torch.randn(8, 1, 4, 32, 32)
    y = torch.arange(8) % 5
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_registry_presets():
    assert list_students() == ["r2plus1d_10", "r2plus1d_18", "x3d_tiny", "x3d_xs"]
    tiny = create_student("x3d_tiny")
    assert isinstance(tiny, X3D) and tiny.embed_dim == 128
    assert n_params(tiny) < 0.5e6
    assert create_student("r2plus1d_10").blocks == (1, 1, 1, 1)
    custom = create_student("x3d_tiny", in_chans=3, num_classes=4, embed_dim=32)
    assert custom.in_chans == 3 and custom.num_classes == 4 and custom.embed_dim == 32
    assert create_student("x3d_tiny", pretrained=False).widths == (16, 32, 64)


def test_registry_errors():
    with pytest.raises(ValueError, match="x3d_tiny"):
        create_student("resnet50")
    with pytest.raises(ValueError, match="pretrained"):
        create_student("x3d_tiny", pretrained=True)
