"""Recording inside Lightning and Hugging Face loops, probes over users' own datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from stratigraphy import DynamicsStore, analyze
from stratigraphy.probes.build import ProbeConfig
from stratigraphy.probes.dataset import ProbedDataset


def _digits_tensors(digits, n: int = 600) -> TensorDataset:  # type: ignore[no-untyped-def]
    return TensorDataset(torch.from_numpy(digits.X[:n]), torch.from_numpy(digits.y[:n]))


def test_probed_dataset_wraps_without_copying(digits) -> None:  # type: ignore[no-untyped-def]
    base = _digits_tensors(digits)
    probed = ProbedDataset(base, n_classes=10, config=ProbeConfig(seed=2, size=20))
    plan = probed.plan
    assert probed.dataset is base and len(probed) == plan.y.shape[0]
    rows = {s: plan.probe_rows[np.asarray(plan.probes.column("suite").to_pylist()) == s] for s in
            ("typical", "mislabeled", "corrupted", "random_input")}  # fmt: skip
    r = int(rows["typical"][0])
    x, y = probed[r]
    assert torch.equal(x, base[int(plan.origin[r])][0]) and int(y) == int(plan.y[r])
    r = int(rows["mislabeled"][0])
    x, y = probed[r]
    src = int(plan.origin[r])
    assert torch.equal(x, base[src][0]) and int(y) != int(base[src][1])
    r = int(rows["corrupted"][0])
    x1, y1 = probed[r]
    x2, _ = probed[r]
    assert torch.equal(x1, x2) and not torch.equal(x1, base[int(plan.origin[r])][0])
    assert int(y1) == int(base[int(plan.origin[r])][1])
    x, _ = probed[int(rows["random_input"][0])]
    assert x.shape == base[0][0].shape
    loader = DataLoader(probed, batch_size=64)
    assert sum(b[0].shape[0] for b in loader) == len(probed)


def test_probed_dataset_needs_features_for_token_ids() -> None:
    from stratigraphy.core.errors import ConfigError

    ids = TensorDataset(torch.randint(0, 50, (200, 8)), torch.randint(0, 2, (200,)))
    with pytest.raises(ConfigError, match="features="):
        ProbedDataset(ids)


def test_probed_dict_items_keep_their_other_fields() -> None:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, 40, (300, 12), generator=g)
    mask = torch.ones(300, 12, dtype=torch.long)
    mask[:, 9:] = 0
    labels = torch.randint(0, 3, (300,), generator=g)

    class Tokens(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return 300

        def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
            return {"input_ids": ids[i], "attention_mask": mask[i], "labels": labels[i]}

    feats = torch.randn(300, 8, generator=g).numpy()
    probed = ProbedDataset(Tokens(), n_classes=3, config=ProbeConfig(seed=0, size=10),
                           features=feats)  # fmt: skip
    suites = np.asarray(probed.plan.probes.column("suite").to_pylist())
    for suite in ("random_input", "corrupted"):
        row = int(probed.plan.probe_rows[suites == suite][0])
        item = probed[row]
        assert set(item) == {"input_ids", "attention_mask", "labels"}
        assert item["input_ids"].dtype == ids.dtype and item["input_ids"].shape == (12,)
    batch = next(iter(DataLoader(probed, batch_size=len(probed))))
    assert batch["attention_mask"].shape == (len(probed), 12)


def test_hf_datasets_from_disk(tmp_path: Path, digits) -> None:  # type: ignore[no-untyped-def]
    import datasets

    n = 600
    ds = datasets.Dataset.from_dict({"x": digits.X[:n].tolist(), "label": digits.y[:n].tolist()})
    ds.save_to_disk(tmp_path / "ds")
    loaded = datasets.load_from_disk(str(tmp_path / "ds")).with_format("torch")
    probed = ProbedDataset(loaded, config=ProbeConfig(seed=0, size=20))
    assert probed.input_key == "x" and probed.label_key == "label"
    np.testing.assert_array_equal(probed.plan.source_labels, digits.y[:n])
    item = probed[0]
    assert set(item) == {"x", "label"} and item["x"].shape == (1, 8, 8)
    batch = next(iter(DataLoader(probed, batch_size=32)))
    assert batch["x"].shape == (32, 1, 8, 8)


def test_lightning_callback_records_each_epoch(tmp_path: Path, digits) -> None:  # type: ignore[no-untyped-def]
    import lightning.pytorch as L

    from stratigraphy.record.lightning_callback import DynamicsCallback

    class Classifier(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

        def training_step(self, batch, _i):  # type: ignore[no-untyped-def]
            x, y = batch
            return nn.functional.cross_entropy(self(x), y)

        def configure_optimizers(self):  # type: ignore[no-untyped-def]
            return torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)

    probed = ProbedDataset(_digits_tensors(digits, 800), config=ProbeConfig(seed=0, size=20))
    cb = DynamicsCallback(tmp_path / "dynamics")
    torch.manual_seed(0)
    trainer = L.Trainer(
        max_epochs=6, callbacks=[cb], logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
    )  # fmt: skip
    trainer.fit(Classifier(), DataLoader(probed, batch_size=32, shuffle=True))
    store = DynamicsStore(tmp_path / "dynamics")
    assert store.finished_epochs() == 6
    signals = store.read_all()
    assert signals["loss"].shape == (len(probed), 6)
    assert not np.isnan(signals["loss"].astype(np.float32)).any()
    loss = signals["loss"].astype(np.float32)
    assert loss[:, -1].mean() < loss[:, 0].mean()
    result = analyze(signals, probed.plan)
    # Held-out mislabeled probes come from any example, so they are as hard as real errors.
    assert result.summary["inference"]["heldout"]["knn"]["per_suite"]["mislabeled"] > 0.4


def test_hf_trainer_callback_records_a_tiny_model(tmp_path: Path) -> None:
    import transformers

    from stratigraphy.record.checkpoints import find_checkpoints, record_checkpoints
    from stratigraphy.record.hf_callback import DynamicsTrainerCallback

    cfg = transformers.BertConfig(
        vocab_size=60, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=16, num_labels=2,
    )  # fmt: skip
    model = transformers.BertForSequenceClassification(cfg)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 60, (96, 8), generator=g)
    labels = (ids[:, 0] > 30).long()

    class Tokens(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return ids.shape[0]

        def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
            return {"input_ids": ids[i], "attention_mask": torch.ones(8), "labels": labels[i]}

    cb = DynamicsTrainerCallback(tmp_path / "dynamics", batch_size=32)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "hf"), num_train_epochs=3, per_device_train_batch_size=16,
        learning_rate=1e-3, report_to=[], save_strategy="epoch", use_cpu=True, seed=0,
        disable_tqdm=True, logging_strategy="no",
    )  # fmt: skip
    trainer = transformers.Trainer(model=model, args=args, train_dataset=Tokens(), callbacks=[cb])
    trainer.train()
    store = DynamicsStore(tmp_path / "dynamics")
    assert store.finished_epochs() == 3
    pred = store.read("pred")
    loss = store.read("loss").astype(np.float32)
    assert pred.shape == (96, 3) and not np.isnan(loss).any()
    with torch.no_grad():
        model.eval()
        logits = model(input_ids=ids, attention_mask=torch.ones(96, 8)).logits
    np.testing.assert_array_equal(pred[:, -1], logits.argmax(1).numpy())

    # The Trainer's own checkpoints, replayed afterwards, give what the callback recorded.
    replayed = record_checkpoints(
        find_checkpoints(tmp_path / "hf"), Tokens(),
        lambda: transformers.BertForSequenceClassification(cfg), batch_size=32, progress=False,
    )  # fmt: skip
    recorded = store.read_all()
    np.testing.assert_array_equal(replayed["pred"], recorded["pred"])
    for name in ("loss", "margin"):
        ours = replayed[name].astype(np.float32)
        np.testing.assert_allclose(ours, recorded[name].astype(np.float32), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize(
    "make",
    [
        lambda: __import__("sklearn.linear_model").linear_model.SGDClassifier(
            loss="log_loss", alpha=1e-4, random_state=0
        ),
        lambda: __import__("sklearn.neural_network").neural_network.MLPClassifier(
            hidden_layer_sizes=(64,), learning_rate_init=0.01, random_state=0
        ),
        lambda: __import__("sklearn.ensemble").ensemble.HistGradientBoostingClassifier(
            learning_rate=0.2, random_state=0
        ),
        lambda: __import__("sklearn.ensemble").ensemble.RandomForestClassifier(
            n_estimators=40, random_state=0
        ),
    ],
    ids=["sgd", "mlp", "hist_gb", "forest_warm_start"],
)
def test_sklearn_estimators_record_dynamics(digits, make) -> None:  # type: ignore[no-untyped-def]
    from stratigraphy import build_probes
    from stratigraphy.record.estimators import record_estimator

    X = digits.X.reshape(digits.n, -1)
    probed = build_probes(X, digits.y, 10, ProbeConfig(seed=0))
    est, signals = record_estimator(make(), probed.X, probed.y, epochs=8)
    assert signals["loss"].shape == (probed.X.shape[0], 8)
    assert not np.isnan(signals["loss"].astype(np.float32)).any()
    result = analyze(signals, probed, digits.class_names)
    assert result.engine.class_names_ == list(digits.class_names)  # the notes name classes
    held = result.summary["mislabel_score"]["heldout_ap"]
    assert max(held.values()) > 0.5
    assert (est.predict(X) == digits.y).mean() > 0.8


def test_sklearn_without_steps_is_refused(digits) -> None:  # type: ignore[no-untyped-def]
    from sklearn.svm import SVC

    from stratigraphy.core.errors import ConfigError
    from stratigraphy.record.estimators import record_estimator

    with pytest.raises(ConfigError, match="cannot be observed"):
        record_estimator(SVC(), digits.X[:100], digits.y[:100], epochs=3)
