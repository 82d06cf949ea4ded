"""Contrastive, graph-structure and symmetric-KL losses against loop-by-loop references (float64)."""

from __future__ import annotations

import math

import pytest
import torch

from distillers.losses.contrast import BankTripletLoss, LabelAwareNCELoss
from distillers.losses.structure import GraphSimilarityLoss, GraphSimilarityNetwork, SimilarityGraphKLLoss
from distillers.losses.symmetric_kl import SymmetricKLLoss

# --- helpers


def _dot(u, v):
    return sum(a * b for a, b in zip(u, v))


def _unit(v):
    n = math.sqrt(_dot(v, v))
    return [a / n for a in v]


def _cosine_matrix(x):
    x = [_unit(row) for row in x]
    return [[_dot(r1, r2) for r2 in x] for r1 in x]


def _logsumexp(values):
    m = max(values)
    return m + math.log(sum(math.exp(v - m) for v in values))


def _sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v))


def _case(seed, batch, bank, dim=5, anchor_classes=3, key_classes=3, masked=False):
    """Random float64 anchors/keys with integer labels and an optional random key mask."""
    torch.manual_seed(seed)
    anchors = torch.randn(batch, dim, dtype=torch.float64)
    keys = 2.0 * torch.randn(bank, dim, dtype=torch.float64)  # scale is irrelevant: both are normalised
    anchor_labels = torch.randint(0, anchor_classes, (batch,))
    key_labels = torch.randint(0, key_classes, (bank,))
    key_mask = torch.rand(batch, bank) > 0.35 if masked else None
    return anchors, anchor_labels, keys, key_labels, key_mask


# Name -> (seed, batch, bank, dim, anchor_classes, key_classes, masked)
CASES = {
    "random": (0, 6, 20, 5, 3, 3, False),
    "masked": (1, 6, 20, 5, 3, 3, True),
    "one_class_everywhere": (2, 5, 12, 4, 1, 1, False),
    "class_only_among_keys": (3, 6, 25, 5, 2, 4, True),  # labels 2, 3 are never anchors
    "batch_of_one": (4, 1, 10, 3, 3, 3, False),
    "batch_of_two": (5, 2, 9, 3, 2, 2, True),
}


def _usable(mask, i, j):
    return True if mask is None else bool(mask[i][j])


# --- NCE


def _nce_reference(anchors, anchor_labels, keys, key_labels, key_mask, tau):
    a = [_unit(row) for row in anchors.tolist()]
    k = [_unit(row) for row in keys.tolist()]
    al, kl = anchor_labels.tolist(), key_labels.tolist()
    mask = None if key_mask is None else key_mask.tolist()
    losses = []
    for i in range(len(a)):
        usable = [j for j in range(len(k)) if _usable(mask, i, j)]
        positives = [j for j in usable if kl[j] == al[i]]
        if not positives:
            continue
        s = {j: _dot(a[i], k[j]) / tau for j in usable}
        lse = _logsumexp([s[j] for j in usable])
        losses.append(-sum(s[p] - lse for p in positives) / len(positives))
    return sum(losses) / len(losses) if losses else 0.0


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("tau", [0.07, 0.5])
def test_label_aware_nce_matches_the_reference(name, tau):
    anchors, anchor_labels, keys, key_labels, key_mask = _case(*CASES[name])
    loss = LabelAwareNCELoss(tau)(anchors, anchor_labels, keys, key_labels, key_mask)
    expected = _nce_reference(anchors, anchor_labels, keys, key_labels, key_mask, tau)
    assert loss.dtype == torch.float64
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_label_aware_nce_without_any_positive_is_a_zero_that_backpropagates():
    anchors = torch.randn(4, 3, requires_grad=True)
    keys = torch.randn(7, 3)
    loss = LabelAwareNCELoss()(anchors, torch.zeros(4, dtype=torch.long), keys, torch.ones(7, dtype=torch.long))
    assert loss.item() == 0.0
    loss.backward()
    assert anchors.grad is not None and torch.all(anchors.grad == 0)


def test_label_aware_nce_ignores_masked_keys():
    anchors, anchor_labels, keys, key_labels, _ = _case(6, 4, 10)
    key_mask = torch.ones(4, 10, dtype=torch.bool)
    key_mask[:, 0] = False
    nce = LabelAwareNCELoss()
    dropped = nce(anchors, anchor_labels, keys[1:], key_labels[1:])
    masked = nce(anchors, anchor_labels, keys, key_labels, key_mask)
    assert masked.item() == pytest.approx(dropped.item(), abs=1e-12)


# --- triplet


def _squared(u, v):
    return sum((a - b) ** 2 for a, b in zip(u, v))


def _triplet_reference(anchors, anchor_labels, keys, key_labels, key_mask, margin, k, mining):
    """FaceNet's triplets on squared distances of unit vectors, mined as the loss's docstring says."""
    a = [_unit(row) for row in anchors.tolist()]
    keys_ = [_unit(row) for row in keys.tolist()]
    al, kl = anchor_labels.tolist(), key_labels.tolist()
    mask = None if key_mask is None else key_mask.tolist()
    losses = []
    for i in range(len(a)):
        usable = [j for j in range(len(keys_)) if _usable(mask, i, j)]
        d = {j: _squared(a[i], keys_[j]) for j in usable}
        positives = [d[j] for j in usable if kl[j] == al[i]]
        negatives = sorted(d[j] for j in usable if kl[j] != al[i])
        if mining == "hardest":
            triplets = [(dp, dn) for dp in sorted(positives, reverse=True)[:k] for dn in negatives[:k]]
        else:  # semi-hard: dp < dn < dp + margin
            def window(dp):
                return [dn for dn in negatives if dp < dn < dp + margin]

            semi_hard = sorted((dp for dp in positives if window(dp)), reverse=True)[:k]
            triplets = [(dp, dn) for dp in semi_hard for dn in window(dp)[:k]]
        if triplets:
            losses.append(sum(max(0.0, dp - dn + margin) for dp, dn in triplets) / len(triplets))
    return sum(losses) / len(losses) if losses else 0.0


@pytest.mark.parametrize("mining", ["semi_hard", "hardest"])
@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize(("margin", "k"), [(0.5, 1), (0.5, 3), (1.2, 50)])  # k=50 exceeds every class
def test_bank_triplet_matches_the_reference(name, margin, k, mining):
    anchors, anchor_labels, keys, key_labels, key_mask = _case(*CASES[name])
    loss = BankTripletLoss(margin, k, mining)(anchors, anchor_labels, keys, key_labels, key_mask)
    expected = _triplet_reference(anchors, anchor_labels, keys, key_labels, key_mask, margin, k, mining)
    assert loss.dtype == torch.float64
    assert loss.item() == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("batch", [1, 2, 7, 16])
@pytest.mark.parametrize("mining", ["semi_hard", "hardest"])
def test_bank_triplet_matches_the_reference_across_batch_sizes_with_absent_classes(batch, mining):
    torch.manual_seed(100 + batch)
    anchors, keys = torch.randn(batch, 6, dtype=torch.float64), torch.randn(batch + 40, 6, dtype=torch.float64)
    anchor_labels = torch.randint(0, 3, (batch,))  # stages 3 and 4 are absent from the batch's anchors
    key_labels = torch.cat([anchor_labels, torch.randint(0, 5, (40,))])
    mask = torch.rand(batch, batch + 40) > 0.2
    loss = BankTripletLoss(0.5, 5, mining)(anchors, anchor_labels, keys, key_labels, mask)
    expected = _triplet_reference(anchors, anchor_labels, keys, key_labels, mask, 0.5, 5, mining)
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def _on_a_line(*coordinates: float) -> torch.Tensor:
    """Unit vectors at the given angles (radians) in a plane: squared distance 2 - 2 cos(angle difference)."""
    angles = torch.tensor(coordinates, dtype=torch.float64)
    return torch.stack([angles.cos(), angles.sin()], dim=1)


def test_semi_hard_and_hardest_mining_on_a_hand_built_case():
    """One anchor at angle 0. Positives at 0.3, 0.9, 2.0 rad, negatives at 0.5, 1.0, 3.0 rad (squared
    distances 2 - 2 cos): d+ = 0.0893, 0.7568, 2.8323 and d- = 0.2448, 0.9194, 3.9800."""
    anchor = _on_a_line(0.0)
    keys = _on_a_line(0.3, 0.9, 2.0, 0.5, 1.0, 3.0)
    key_labels = torch.tensor([0, 0, 0, 1, 1, 1])
    d = lambda angle: 2.0 - 2.0 * math.cos(angle)  # noqa: E731
    # semi-hard, margin 0.5, k 2: positive 0.9 rad has negative 1.0 rad in (d, d + 0.5); positive 0.3 rad has
    # 0.5 rad in its window; positive 2.0 rad has none (3.0 rad is more than 0.5 farther). Triplets:
    # (0.9, 1.0) and (0.3, 0.5).
    semi = BankTripletLoss(0.5, 2, "semi_hard")(anchor, torch.tensor([0]), keys, key_labels)
    expected = ((d(0.9) - d(1.0) + 0.5) + (d(0.3) - d(0.5) + 0.5)) / 2
    assert semi.item() == pytest.approx(expected, abs=1e-12)
    # k 1: only the farthest semi-hard positive (0.9 rad) and its nearest semi-hard negative
    one = BankTripletLoss(0.5, 1, "semi_hard")(anchor, torch.tensor([0]), keys, key_labels)
    assert one.item() == pytest.approx(d(0.9) - d(1.0) + 0.5, abs=1e-12)
    # hardest, k 2: positives 2.0 and 0.9 rad against negatives 0.5 and 1.0 rad, all four pairs
    hardest = BankTripletLoss(0.5, 2, "hardest")(anchor, torch.tensor([0]), keys, key_labels)
    pairs = [max(0.0, d(p) - d(n) + 0.5) for p in (2.0, 0.9) for n in (0.5, 1.0)]
    assert hardest.item() == pytest.approx(sum(pairs) / 4, abs=1e-12)
    # a negative closer than every positive makes no semi-hard triplet: nothing to learn from it there
    none = BankTripletLoss(0.1, 2, "semi_hard")(anchor, torch.tensor([0]), _on_a_line(2.0, 0.2), torch.tensor([0, 1]))
    assert none.item() == 0.0


def test_bank_triplet_with_one_class_only_is_a_zero_that_backpropagates():
    for mining in ("semi_hard", "hardest"):
        anchors = torch.randn(5, 4, requires_grad=True)
        labels = torch.zeros(5, dtype=torch.long)
        loss = BankTripletLoss(mining=mining)(anchors, labels, torch.randn(9, 4), torch.zeros(9, dtype=torch.long))
        assert loss.item() == 0.0
        loss.backward()
        assert anchors.grad is not None and torch.all(anchors.grad == 0)


@pytest.mark.parametrize("mining", ["semi_hard", "hardest"])
def test_bank_triplet_gradient_is_finite_for_a_key_equal_to_its_anchor(mining):
    anchors = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    keys = torch.cat([anchors.detach(), torch.randn(4, 4, dtype=torch.float64)])  # distance 0 to own copy
    labels, key_labels = torch.tensor([0, 1, 0]), torch.tensor([0, 1, 0, 1, 0, 1, 0])
    BankTripletLoss(margin=1.0, k=2, mining=mining)(anchors, labels, keys, key_labels).backward()
    assert torch.isfinite(anchors.grad).all()


# --- both contrastive losses


@pytest.mark.parametrize("loss_fn", [LabelAwareNCELoss(), BankTripletLoss(), BankTripletLoss(mining="hardest")])
def test_contrastive_losses_send_gradients_to_the_anchors(loss_fn):
    anchors, anchor_labels, keys, key_labels, key_mask = _case(7, 6, 20, masked=True)
    anchors.requires_grad_(True)
    loss_fn(anchors, anchor_labels, keys, key_labels, key_mask).backward()
    assert anchors.grad is not None and anchors.grad.abs().sum() > 0 and torch.isfinite(anchors.grad).all()


@pytest.mark.parametrize("loss_fn", [LabelAwareNCELoss(), BankTripletLoss(k=10), BankTripletLoss(k=10, mining="hardest")])
def test_contrastive_losses_scale_to_a_large_bank_in_float32(loss_fn):
    torch.manual_seed(8)
    anchors = torch.randn(64, 16, requires_grad=True)
    keys, key_labels = torch.randn(20000, 16), torch.randint(0, 5, (20000,))
    loss = loss_fn(anchors, torch.randint(0, 5, (64,)), keys, key_labels, torch.rand(64, 20000) > 0.1)
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(loss) and torch.isfinite(anchors.grad).all()


def test_contrastive_losses_reject_invalid_hyper_parameters():
    for make in (lambda: LabelAwareNCELoss(0.0), lambda: LabelAwareNCELoss(-1.0)):
        with pytest.raises(ValueError, match="temperature"):
            make()
    with pytest.raises(ValueError, match="margin"):
        BankTripletLoss(margin=-0.1)
    with pytest.raises(ValueError, match="k"):
        BankTripletLoss(k=0)
    with pytest.raises(ValueError, match="mining"):
        BankTripletLoss(mining="hard")
    anchors, anchor_labels, keys, key_labels, _ = _case(9, 3, 5)
    with pytest.raises(ValueError, match="key_mask"):
        LabelAwareNCELoss()(anchors, anchor_labels, keys, key_labels, torch.ones(3, 4, dtype=torch.bool))


# --- graph KL


def _graph_kl_reference(student, teacher, t):
    ss, st = _cosine_matrix(student.tolist()), _cosine_matrix(teacher.tolist())
    n = len(ss)
    total = 0.0
    for i in range(n):
        others = [j for j in range(n) if j != i]
        lse_s = _logsumexp([ss[i][j] / t for j in others])
        lse_t = _logsumexp([st[i][j] / t for j in others])
        for j in others:
            log_ps, log_pt = ss[i][j] / t - lse_s, st[i][j] / t - lse_t
            total += math.exp(log_pt) * (log_pt - log_ps)
    return total / n


@pytest.mark.parametrize("batch", [2, 3, 6])
@pytest.mark.parametrize("t", [0.1, 1.0])
def test_similarity_graph_kl_matches_the_reference_across_widths(batch, t):
    torch.manual_seed(30 + batch)
    student, teacher = torch.randn(batch, 4, dtype=torch.float64), torch.randn(batch, 7, dtype=torch.float64)
    loss = SimilarityGraphKLLoss(t)(student, teacher)
    assert loss.item() == pytest.approx(_graph_kl_reference(student, teacher, t), abs=1e-6)


def test_similarity_graph_kl_is_zero_for_a_scaled_copy_and_positive_otherwise():
    torch.manual_seed(40)
    x = torch.randn(6, 5, dtype=torch.float64)
    kl = SimilarityGraphKLLoss()
    assert kl(3.0 * x, x).item() == pytest.approx(0.0, abs=1e-12)
    assert kl(torch.randn(6, 5, dtype=torch.float64), x).item() > 1e-6


def test_similarity_graph_kl_for_one_or_two_samples():
    kl = SimilarityGraphKLLoss()
    one = torch.randn(1, 4, requires_grad=True)
    zero = kl(one, torch.randn(1, 3))
    assert zero.item() == 0.0
    zero.backward()  # still differentiable
    two = kl(torch.randn(2, 4), torch.randn(2, 3))  # one off-diagonal entry per row: both softmaxes are 1
    assert two.item() == 0.0


def test_structure_losses_never_train_the_teacher_and_the_symmetric_kl_trains_both_sides():
    torch.manual_seed(41)
    student = torch.randn(5, 4, requires_grad=True)
    teacher = torch.randn(5, 6, requires_grad=True)
    total = SimilarityGraphKLLoss()(student, teacher) + GraphSimilarityLoss(4, 6, filters=8, tensor_slices=4)(student, teacher)
    total.backward()
    assert student.grad is not None and student.grad.abs().sum() > 0 and teacher.grad is None
    a, b = torch.randn(5, 3, requires_grad=True), torch.randn(5, 3, requires_grad=True)
    SymmetricKLLoss(2.0)(a, b).backward()  # CCL trains student and composition head through it; SACD detaches
    assert a.grad.abs().sum() > 0 and b.grad.abs().sum() > 0


def test_structure_losses_reject_invalid_hyper_parameters():
    with pytest.raises(ValueError, match="temperature"):
        SimilarityGraphKLLoss(0.0)
    with pytest.raises(ValueError):
        GraphSimilarityNetwork(4, 6, filters=0)
    with pytest.raises(ValueError):
        GraphSimilarityLoss(4, 6, tensor_slices=0)


# --- graph similarity network


def _linear(x, layer):
    w = layer.weight.tolist()
    b = layer.bias.tolist() if layer.bias is not None else [0.0] * len(w)
    return [_dot(row, x) + bias for row, bias in zip(w, b)]


def _graph_embedding_reference(x, projection, net):
    n = len(x)
    cos = _cosine_matrix(x)
    adjacency = [[1.0 if i == j else max(0.0, cos[i][j]) for j in range(n)] for i in range(n)]
    degree = [sum(row) for row in adjacency]
    normalised = [[adjacency[i][j] / math.sqrt(degree[i] * degree[j]) for j in range(n)] for i in range(n)]
    projected = [_linear(row, projection) for row in x]
    filters = len(projected[0])
    nodes = []
    for i in range(n):
        mixed = [sum(normalised[i][j] * projected[j][f] for j in range(n)) for f in range(filters)]
        nodes.append([max(0.0, v) for v in _linear(mixed, net.convolution)])
    attended = [_linear(h, net.attention) for h in nodes]
    context = [math.tanh(sum(row[f] for row in attended) / n) for f in range(filters)]
    weights = [_sigmoid(_dot(h, context)) for h in nodes]
    return [sum(weights[i] * nodes[i][f] for i in range(n)) for f in range(filters)]


def _graph_score_reference(student, teacher, net):
    h1 = _graph_embedding_reference(student.tolist(), net.student_projection, net)
    h2 = _graph_embedding_reference(teacher.tolist(), net.teacher_projection, net)
    w, v, b = net.tensor_weight.tolist(), net.tensor_linear.tolist(), net.tensor_bias.tolist()
    both = h1 + h2
    slices = []
    for k in range(len(w)):
        bilinear = sum(h1[f] * w[k][f][g] * h2[g] for f in range(len(h1)) for g in range(len(h2)))
        slices.append(max(0.0, bilinear + _dot(v[k], both) + b[k]))
    return _sigmoid(_linear(slices, net.output)[0])


@pytest.mark.parametrize("batch", [1, 2, 5])
def test_graph_similarity_network_matches_the_reference_with_its_own_weights(batch):
    torch.manual_seed(50 + batch)
    net = GraphSimilarityNetwork(4, 7, filters=6, tensor_slices=3).double()
    student, teacher = torch.randn(batch, 4, dtype=torch.float64), torch.randn(batch, 7, dtype=torch.float64)
    with torch.no_grad():
        score = net(student, teacher)
    expected = _graph_score_reference(student, teacher, net)
    assert score.dim() == 0 and 0.0 < score.item() < 1.0
    assert score.item() == pytest.approx(expected, abs=1e-6)


def test_graph_similarity_loss_is_squared_distance_of_the_score_from_one():
    torch.manual_seed(60)
    loss_fn = GraphSimilarityLoss(4, 7, filters=8, tensor_slices=4)
    student, teacher = torch.randn(5, 4, requires_grad=True), torch.randn(5, 7)
    loss = loss_fn(student, teacher)
    score = loss_fn.network(student, teacher)
    assert loss.item() == pytest.approx((score.item() - 1.0) ** 2, abs=1e-7)
    loss.backward()
    assert student.grad is not None and torch.isfinite(student.grad).all()
    assert loss_fn.network.tensor_weight.grad is not None  # the scorer trains with the student


# --- symmetric KL


def _symmetric_kl_reference(s, t, temperature):
    total = 0.0
    for zs, zt in zip(s.tolist(), t.tolist()):
        lse_s = _logsumexp([v / temperature for v in zs])
        lse_t = _logsumexp([v / temperature for v in zt])
        log_ps = [v / temperature - lse_s for v in zs]
        log_pt = [v / temperature - lse_t for v in zt]
        forward = sum(math.exp(lt) * (lt - ls) for ls, lt in zip(log_ps, log_pt))
        reverse = sum(math.exp(ls) * (ls - lt) for ls, lt in zip(log_ps, log_pt))
        total += forward + reverse
    return temperature**2 * total / len(s)


@pytest.mark.parametrize("temperature", [1.0, 4.0])
@pytest.mark.parametrize("batch", [1, 3])
def test_symmetric_kl_matches_the_reference(temperature, batch):
    torch.manual_seed(70 + batch)
    student, teacher = torch.randn(batch, 5, dtype=torch.float64), 3 * torch.randn(batch, 5, dtype=torch.float64)
    loss = SymmetricKLLoss(temperature)(student, teacher)
    assert loss.item() == pytest.approx(_symmetric_kl_reference(student, teacher, temperature), abs=1e-6)


def test_symmetric_kl_is_symmetric_and_zero_for_equal_logits():
    torch.manual_seed(80)
    a, b = torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64)
    kl = SymmetricKLLoss(2.0)
    assert kl(a, b).item() == pytest.approx(kl(b, a).item(), abs=1e-12)
    assert kl(a, b).item() > 0
    assert kl(a, a.clone()).item() == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="temperature"):
        SymmetricKLLoss(0.0)
