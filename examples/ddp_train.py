"""Record learning dynamics under PyTorch DistributedDataParallel.

    torchrun --standalone --nproc_per_node 2 examples/ddp_train.py --out runs/ddp

Each rank trains on its ``DistributedSampler`` shard and records the batches it sees;
``DynamicsRecorder.end_epoch`` gathers the shards so rank 0 writes one row per example per
epoch. ``--prune 0.5`` swaps in stratigraphy's InfoBatch-style ``PruningSampler``. Rank 0 then
infers every example's metadata and prints a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from stratigraphy import DynamicsRecorder, IndexedDataset, analyze, build_probes
from stratigraphy.curate.sampling import PruningSampler
from stratigraphy.data.noise import plant_label_noise
from stratigraphy.data.sources import load_digits_data, load_fashion_mnist
from stratigraphy.probes.build import ProbeConfig
from stratigraphy.record.models import make_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--data", choices=("digits", "fashion-mnist"), default="digits")
    ap.add_argument("--limit", type=int, default=None, help="use the first N examples")
    ap.add_argument("--model", choices=("mlp", "cnn"), default="mlp")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--prune", type=float, default=0.0, help="InfoBatch pruning ratio (0 = off)")
    ap.add_argument("--no-record", action="store_true", help="train without recording")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.set_num_threads(1)
    data = load_digits_data() if args.data == "digits" else load_fashion_mnist()
    X, y = data.X[: args.limit], data.y[: args.limit]
    given, truth = plant_label_noise(y, data.n_classes, 0.1, seed=args.seed)
    probed = build_probes(X, given, data.n_classes, ProbeConfig(seed=args.seed))
    n = probed.X.shape[0]
    dataset = IndexedDataset(TensorDataset(torch.from_numpy(probed.X), torch.from_numpy(probed.y)))
    if args.prune > 0:
        sampler = PruningSampler(
            n, args.epochs, prune=args.prune, seed=args.seed, num_replicas=world, rank=rank
        )
    else:
        sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, seed=args.seed)
    loader = DataLoader(dataset, batch_size=args.batch_size, sampler=sampler)

    torch.manual_seed(args.seed)
    model = DistributedDataParallel(make_model(args.model, probed.X, data.n_classes))
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    recorder = None if args.no_record else DynamicsRecorder(n, args.out / "dynamics")
    duplicates, visited = [], []
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        for xb, yb, idx in loader:
            logits = model(xb)
            loss = F.cross_entropy(logits, yb, reduction="none")
            weight = sampler.weights(idx) if isinstance(sampler, PruningSampler) else 1.0
            opt.zero_grad(set_to_none=True)
            (loss * weight).mean().backward()
            opt.step()
            if isinstance(sampler, PruningSampler):
                sampler.update(idx, loss)
            if recorder is not None:
                recorder.update(idx, logits, yb, loss)
        if recorder is not None:
            recorder.end_epoch()
            duplicates.append(recorder.last_merge.duplicates if recorder.last_merge else 0)
        visited.append(getattr(sampler, "visited", n))
    dist.barrier()
    seconds = time.perf_counter() - t0
    if rank == 0:
        summary = {"world_size": world, "rows": n, "train_seconds": seconds, "visited": visited}
        if recorder is not None:
            signals = recorder.arrays()
            result = analyze(signals, probed, data.class_names, truth, y)
            summary.update(
                duplicates_dropped=duplicates,
                unseen_cells=int(np.isnan(signals["loss"].astype(np.float32)).sum()),
                counts=result.summary["counts"],
                mislabel_ap=result.summary["detection"]["scores"]["mislabel_score"]["ap"],
            )
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "ddp_summary.json").write_text(json.dumps(summary, indent=2))
        print(json.dumps(summary))
    # Rank 1 would otherwise tear gloo down while rank 0 still analyses, which aborted it
    # (SIGABRT) now and then on a loaded machine.
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
