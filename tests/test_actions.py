import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset
from typer.testing import CliRunner

from stratigraphy import ConfigError, IndexedDataset
from stratigraphy.cli import app
from stratigraphy.curate.bootstrap import (
    BetaMixture,
    ProbeNoiseEstimator,
    bootstrap_loss,
    mixup_bootstrap_step,
    peer_targets,
)
from stratigraphy.curate.pruning import class_quotas, prune_run, select_keep
from stratigraphy.curate.sampling import PruningSampler, select_batch


def test_bootstrap_loss_interpolates_between_given_label_and_prediction():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 3.0, 0.0]])
    labels = torch.tensor([1, 1])
    ce = F.cross_entropy(logits, labels, reduction="none")
    torch.testing.assert_close(bootstrap_loss(logits, labels, torch.zeros(2)), ce)
    to_pred = F.cross_entropy(logits, logits.argmax(1), reduction="none")
    torch.testing.assert_close(bootstrap_loss(logits, labels, torch.ones(2)), to_pred)
    half = bootstrap_loss(logits, labels, torch.full((2,), 0.5))
    torch.testing.assert_close(half, 0.5 * (ce + to_pred))


def test_bootstrap_toward_peer_prediction():
    mine = torch.tensor([[2.0, 0.0, -1.0], [0.0, 3.0, 0.0]])
    peer = torch.tensor([[0.0, 0.0, 4.0], [0.0, 3.0, 0.0]])
    target = peer_targets(mine, peer)
    # Mean softmax of row 0: class 2 wins (peer is surer than mine); row 1 both say class 1.
    assert target.tolist() == [2, 1]
    labels = torch.tensor([0, 0])
    loss = bootstrap_loss(mine, labels, torch.ones(2), target=target)
    torch.testing.assert_close(loss, F.cross_entropy(mine, target, reduction="none"))
    with pytest.raises(ValueError):
        peer_targets()


def _two_populations(seed=0):
    rng = np.random.default_rng(seed)
    clean = rng.lognormal(-2.5, 0.6, 8000)
    noisy = rng.lognormal(0.8, 0.3, 2000)
    return clean, noisy


def test_beta_mixture_separates_high_losses():
    clean, noisy = _two_populations()
    bmm = BetaMixture().fit(np.concatenate([clean, noisy]))
    assert bmm.posterior_noisy(noisy).mean() > 0.8
    assert bmm.posterior_noisy(clean).mean() < 0.2


def test_probe_estimator_learns_the_noise_rate_from_the_data():
    clean, noisy = _two_populations(1)
    rng = np.random.default_rng(2)
    est = ProbeNoiseEstimator().fit(
        mislabeled_loss=rng.lognormal(0.8, 0.3, 200),
        clean_loss=rng.lognormal(-2.5, 0.6, 200),
        data_loss=np.concatenate([clean, noisy]),
    )
    assert est.prior == pytest.approx(0.2, abs=0.03)
    assert est.posterior_noisy(noisy).mean() > 0.9 and est.posterior_noisy(clean).mean() < 0.05


def test_select_keep_by_score_with_and_without_quotas():
    labels = np.repeat([0, 1, 2], 100)
    el2n = np.random.default_rng(0).random(300) + (labels == 0)  # class 0 scores highest
    kept = select_keep({"el2n": el2n}, labels, 0.5, "el2n")
    assert kept.size == 150 and np.bincount(labels[kept], minlength=3)[0] == 100
    error = np.array([0.1, 0.3, 0.6])
    kept_q = select_keep({"el2n": el2n}, labels, 0.5, "el2n", class_error=error)
    counts = np.bincount(labels[kept_q], minlength=3)
    assert kept_q.size == 150 and counts[2] > counts[1] > counts[0]
    drop = labels == 2
    kept_d = select_keep({"el2n": el2n}, labels, 0.5, "el2n", drop=drop)
    assert not np.isin(kept_d, np.flatnonzero(drop)).any()
    with pytest.raises(ConfigError):
        select_keep({}, labels, 0.5, "grand")


def test_class_quotas_fill_every_slot_and_respect_class_sizes():
    labels = np.repeat([0, 1, 2], [10, 100, 100])
    q = class_quotas(labels, np.array([0.9, 0.05, 0.05]), 150)
    assert q.sum() == 150 and q[0] == 10 and (q <= [10, 100, 100]).all()


def test_pruning_sampler_skips_learned_examples_unbiasedly():
    n, epochs = 1000, 8
    s = PruningSampler(n, epochs, prune=0.5, anneal=0.75, seed=0)
    assert len(s) == n  # nothing known yet: full data
    loss = torch.cat([torch.full((500,), 0.01), torch.full((500,), 2.0)])
    s.update(torch.arange(n), loss)
    s.set_epoch(1)
    seen = torch.tensor(list(s))
    low = seen[seen < 500]
    assert 180 < low.numel() < 320 and (seen >= 500).sum() == 500
    # Kept easy examples are up-weighted so the expected loss equals the full-data loss.
    total = (s.weights(seen) * loss[seen]).sum() / n
    assert total.item() == pytest.approx(loss.mean().item(), rel=0.15)
    s.set_epoch(6)  # annealing: the final quarter of epochs uses all data
    assert len(s) == n and torch.all(s.weights(torch.arange(n)) == 1)


def test_pruning_sampler_shards_like_distributed_sampler():
    shards = []
    for rank in range(3):
        s = PruningSampler(100, 4, prune=0.5, seed=3, num_replicas=3, rank=rank)
        s.update(torch.arange(100), torch.linspace(0, 1, 100))
        s.set_epoch(1)
        shards.append(list(s))
    assert len({len(x) for x in shards}) == 1
    union = set().union(*shards)
    assert union <= set(range(100)) and set(range(50, 100)) <= union  # high-loss: never skipped
    assert 50 + 10 < len(union) < 100  # about half of the 50 well-learned ones skipped


def test_pruning_sampler_drives_a_plain_dataloader():
    X, y = torch.randn(64, 3), torch.randint(0, 2, (64,))
    sampler = PruningSampler(64, 3, prune=0.5)
    loader = DataLoader(IndexedDataset(TensorDataset(X, y)), batch_size=16, sampler=sampler)
    model = torch.nn.Linear(3, 2)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        for xb, yb, idx in loader:
            loss = F.cross_entropy(model(xb), yb, reduction="none")
            sampler.update(idx, loss)
            (loss * sampler.weights(idx)).mean().backward()
    assert not torch.isnan(sampler.loss).any()


def test_select_batch_rules():
    cand = torch.arange(10, 20)
    loss = torch.arange(10, dtype=torch.float32)
    assert set(select_batch(cand, loss, 3, "loss").tolist()) == {17, 18, 19}
    p_typ = torch.zeros(10)
    p_typ[0] = 1.0
    p_label = torch.linspace(0, 1, 10)
    assert select_batch(cand, loss, 1, "mapd", p_typ, p_label).tolist() == [10]
    assert select_batch(cand, loss, 4, "uniform", generator=torch.Generator()).numel() == 4
    with pytest.raises(ConfigError):
        select_batch(cand, loss, 1, "mapd")


def test_prune_command(run_copy, tmp_path):
    res = CliRunner().invoke(
        app,
        [
            "prune",
            str(run_copy),
            "--keep",
            "0.5",
            "--by",
            "el2n",
            "--class-quotas",
            "--drop-flagged",
            "--out",
            str(tmp_path / "half.npz"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "former probe sources are ranked" in " ".join(res.output.split())
    ex = pq.read_table(run_copy / "examples.parquet").to_pandas()
    # every example is ranked, the former probe sources by the source fold's scores mapped onto
    # the main training's scale
    eligible = ~(ex.flagged & ex.verdict.isin(["mislabeled", "random_input"]))
    with np.load(tmp_path / "half.npz") as f:
        assert f["X"].shape[0] == round(0.5 * 1797)
        assert eligible.to_numpy()[f["index"]].all()
        assert (ex.row.to_numpy()[f["index"]] < 0).any()
    # a run without the map (older runs) leaves them out, as before
    summary = json.loads((run_copy / "summary.json").read_text())
    del summary["source_fold"]["scales"]
    (run_copy / "summary.json").write_text(json.dumps(summary))
    kept = prune_run(run_copy, tmp_path / "old.npz", 0.5, "el2n")
    assert (ex.row.to_numpy()[kept] >= 0).all() and kept.size == round(0.5 * 1797)


def test_mixup_bootstrap_step_reduces_to_bootstrapping_without_mixing():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    p = torch.rand(8)

    class NoMix:  # lam = 1: the mixed input is the input itself
        def beta(self, a, b):
            return 1.0

        def permutation(self, n):
            return np.arange(n)

    loss, ce = mixup_bootstrap_step(model, x, y, p, NoMix())
    expected = bootstrap_loss(model(x), y, p).mean()
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(ce, F.cross_entropy(model(x), y, reduction="none").detach())
    loss.backward()
    assert model.weight.grad is not None
