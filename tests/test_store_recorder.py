import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from stratigraphy import DynamicsRecorder, DynamicsStore, IndexedDataset
from stratigraphy.record.recorder import signals_from_logits


def test_signals_match_their_definitions():
    torch.manual_seed(0)
    logits = torch.randn(16, 5)
    labels = torch.randint(0, 5, (16,))
    s = signals_from_logits(logits, labels)
    p = logits.softmax(1)
    torch.testing.assert_close(s["loss"], F.cross_entropy(logits, labels, reduction="none"))
    torch.testing.assert_close(s["p_label"], p[torch.arange(16), labels])
    for i in range(16):
        others = torch.cat([logits[i, : labels[i]], logits[i, labels[i] + 1 :]])
        assert s["margin"][i].item() == pytest.approx((logits[i, labels[i]] - others.max()).item())
        onehot = F.one_hot(labels[i], 5).float()
        assert s["el2n"][i].item() == pytest.approx((p[i] - onehot).norm().item(), abs=1e-5)
    assert torch.equal(s["pred"], logits.argmax(1).int())


def test_store_round_trip_in_float16_and_epochs_resume_cleanly(tmp_path):
    store = DynamicsStore(tmp_path / "dyn", 4)
    rng = np.random.default_rng(0)
    written = []
    for e in range(3):
        sig = {k: rng.random(4).astype(np.float32) for k in ("loss", "margin", "p_label", "el2n")}
        sig["pred"] = np.array([0, 1, 2, -1], dtype=np.int32)
        store.write_epoch(e, sig)
        written.append(sig)
    assert store.finished_epochs() == 3
    loss = store.read("loss")
    assert loss.shape == (4, 3) and loss.dtype == np.float16
    np.testing.assert_allclose(loss[:, 2], written[2]["loss"], rtol=1e-3)
    assert store.read("pred").dtype == np.int32
    assert not [p for p in (tmp_path / "dyn").iterdir() if p.name.startswith(".")]
    store.truncate(1)
    assert store.finished_epochs() == 1
    with pytest.raises(ValueError, match="rows"):
        store.write_epoch(
            1, {k: np.zeros(5) for k in ("loss", "margin", "p_label", "el2n", "pred")}
        )


def test_a_gap_ends_the_finished_epochs(tmp_path):
    store = DynamicsStore(tmp_path, 2)
    sig = {k: np.zeros(2) for k in ("loss", "margin", "p_label", "el2n", "pred")}
    store.write_epoch(0, sig)
    store.write_epoch(2, sig)
    assert store.finished_epochs() == 1


@pytest.mark.parametrize("defer_bytes", [0, 2**20], ids=["per-batch", "deferred"])
def test_recorder_in_a_plain_dataloader_loop_puts_each_value_at_its_index(defer_bytes):
    torch.manual_seed(0)
    X = torch.randn(50, 3)
    y = torch.randint(0, 2, (50,))
    model = torch.nn.Linear(3, 2)
    loader = DataLoader(IndexedDataset(TensorDataset(X, y)), batch_size=8, shuffle=True)
    rec = DynamicsRecorder(50, defer_bytes=defer_bytes)
    for _ in range(2):
        for xb, yb, idx in loader:
            rec.update(idx, model(xb), yb)
        rec.end_epoch()
    arrays = rec.arrays()
    assert arrays["loss"].shape == (50, 2)
    expected = F.cross_entropy(model(X), y, reduction="none").detach().numpy()
    np.testing.assert_allclose(
        arrays["loss"][:, 1].astype(np.float32), expected, rtol=2e-3, atol=1e-3
    )


@pytest.mark.parametrize("defer_bytes", [0, 2**20], ids=["per-batch", "deferred"])
def test_unseen_rows_stay_missing_and_bad_indices_are_refused(tmp_path, defer_bytes):
    rec = DynamicsRecorder(4, tmp_path, defer_bytes=defer_bytes)
    rec.update(torch.tensor([0, 2]), torch.randn(2, 3), torch.tensor([1, 1]))
    out = rec.end_epoch()
    assert np.isnan(out["loss"][[1, 3]]).all() and (out["pred"][[1, 3]] == -1).all()
    with pytest.raises(IndexError, match="out of range"):
        rec.update(torch.tensor([4]), torch.randn(1, 3), torch.tensor([0]))
    with pytest.raises(IndexError, match="out of range"):
        rec.update(torch.tensor([-1]), torch.randn(1, 3), torch.tensor([0]))
    with pytest.raises(RuntimeError):
        DynamicsRecorder(2).end_epoch()


def test_indexed_dataset_appends_the_index_without_copying():
    base = TensorDataset(torch.arange(5))
    wrapped = IndexedDataset(base)
    assert wrapped.dataset is base and len(wrapped) == 5
    assert wrapped[3] == (torch.tensor(3), 3)
