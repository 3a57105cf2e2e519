"""Record learning dynamics in a Hugging Face Trainer with stratigraphy's TrainerCallback.

    python examples/hf_trainer.py --out runs/hf [--epochs 10]

A small BERT-style classifier, built from a config (no download), learns digits whose pixels are
quantised to 17 token ids; a Hugging Face ``datasets.Dataset`` saved to and loaded from disk
carries the data, and ProbedDataset mixes the probe suites into it without copying. It shows
the mechanics in about two minutes; the tiny model learns little, so detection is weak (AP about
0.5). For a real model on real text, see examples/hf_minilm_tweets.py.

The Trainer also saves a checkpoint every epoch; the example then replays those checkpoints
over the same data (``record_checkpoints``, what ``strat analyze CHECKPOINTS --model --dataset``
runs) and shows that they give what the callback recorded in the loop: the route for a model
that was trained without the callback.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import datasets
import numpy as np
import transformers

from stratigraphy import ProbeConfig, analyze, load_digits_data, plant_label_noise
from stratigraphy.probes.dataset import ProbedDataset
from stratigraphy.record.checkpoints import find_checkpoints, record_checkpoints
from stratigraphy.record.hf_callback import DynamicsTrainerCallback


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=10)
    args = ap.parse_args()
    digits = load_digits_data()
    flat = digits.X.reshape(digits.n, -1)
    noisy, truth = plant_label_noise(digits.y, 10, 0.1, seed=0)
    ids = (flat * 16).round().astype(np.int64) + 2
    ds = datasets.Dataset.from_dict({"input_ids": ids.tolist(), "label": noisy.tolist()})
    ds.save_to_disk(str(args.out / "dataset"))
    ds = datasets.load_from_disk(str(args.out / "dataset")).with_format("torch")
    probed = ProbedDataset(ds, n_classes=10, config=ProbeConfig(seed=0), features=flat)

    config = transformers.BertConfig(
        vocab_size=20, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64, num_labels=10,
    )  # fmt: skip
    transformers.set_seed(0)
    model = transformers.BertForSequenceClassification(config)
    callback = DynamicsTrainerCallback(args.out / "dynamics")
    training = transformers.TrainingArguments(
        output_dir=str(args.out / "trainer"), num_train_epochs=args.epochs, learning_rate=5e-3,
        per_device_train_batch_size=64, report_to=[], save_strategy="epoch", use_cpu=True,
        save_only_model=True,
        seed=0, disable_tqdm=True, logging_strategy="no",
    )  # fmt: skip
    trainer = transformers.Trainer(
        model=model, args=training, train_dataset=probed, callbacks=[callback]
    )
    trainer.train()
    result = analyze(callback.arrays(), probed.plan, digits.class_names, truth, digits.y)
    quality = result.summary["detection"]["scores"]["mislabel_score"]
    print("metadata:", result.summary["counts"])
    print(f"planted label errors: AP {quality['ap']:.3f}, AUROC {quality['auroc']:.3f}")

    checkpoints = find_checkpoints(args.out / "trainer")
    replayed = record_checkpoints(
        checkpoints, probed, lambda: transformers.BertForSequenceClassification(config)
    )
    recorded = callback.arrays()
    agree = (replayed["pred"] == recorded["pred"]).mean()
    gap = np.abs(replayed["loss"].astype(np.float32) - recorded["loss"].astype(np.float32)).max()
    print(f"{len(checkpoints)} checkpoints replayed: predictions agree on {agree:.1%} of "
          f"example-epochs, largest loss difference {gap:.1e}")  # fmt: skip
    again = analyze(replayed, probed.plan, digits.class_names, truth, digits.y)
    print("from checkpoints:", again.summary["counts"])


if __name__ == "__main__":
    main()
