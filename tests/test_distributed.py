"""Recording and dynamic pruning under torch.distributed: 2 CPU processes, gloo backend."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from stratigraphy import DynamicsRecorder, DynamicsStore
from stratigraphy.curate.sampling import PruningSampler

ROOT = Path(__file__).resolve().parents[1]
GLOO_TEARDOWN_ABORT = "terminate called without an active exception"
N = 11


def _init(rank: int, init_file: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)


def _record_worker(rank: int, init_file: str, out: str) -> None:
    _init(rank, init_file)
    rec = DynamicsRecorder(N, Path(out) / "dynamics")
    # Rank 0 sees 0..5, rank 1 sees 5..10: example 5 is a padding repeat with a different value.
    idx = torch.arange(0, 6) if rank == 0 else torch.arange(5, 11)
    logits = torch.zeros(6, 3)
    logits[:, 0] = 1.0 + rank
    labels = torch.zeros(6, dtype=torch.long)
    rec.update(idx, logits, labels)
    signals = rec.end_epoch()
    assert rec.last_merge is not None
    np.save(Path(out) / f"rank{rank}.npy", signals["margin"])
    Path(out, f"stats{rank}.json").write_text(
        json.dumps({"gathered": rec.last_merge.gathered, "duplicates": rec.last_merge.duplicates})
    )
    dist.destroy_process_group()


def test_recorder_merges_shards_once_per_example(tmp_path: Path) -> None:
    mp.spawn(_record_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    margin = DynamicsStore(tmp_path / "dynamics").read("margin")[:, 0].astype(np.float32)
    expected = np.r_[np.full(6, 1.0), np.full(5, 2.0)]  # example 5 keeps rank 0's value
    np.testing.assert_allclose(margin, expected)
    for rank in (0, 1):
        np.testing.assert_allclose(np.load(tmp_path / f"rank{rank}.npy"), expected)
        stats = json.loads((tmp_path / f"stats{rank}.json").read_text())
        assert stats == {"gathered": 12, "duplicates": 1}
    assert [p.name for p in (tmp_path / "dynamics").iterdir()] == ["epoch_00000.parquet"]


def _pruning_worker(rank: int, init_file: str, out: str) -> None:
    _init(rank, init_file)
    n = 101
    sampler = PruningSampler(n, epochs=8, prune=0.5, seed=3, num_replicas=2, rank=rank)
    losses = torch.linspace(0.0, 2.0, n)
    shard = torch.tensor(list(sampler))
    sampler.update(shard, losses[shard])
    sampler.set_epoch(1)
    Path(out, f"shard{rank}.json").write_text(
        json.dumps({"indices": list(sampler), "visited": sampler.visited})
    )
    dist.destroy_process_group()


def test_pruning_sampler_plans_the_same_epoch_on_every_rank(tmp_path: Path) -> None:
    mp.spawn(_pruning_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    shards = [json.loads((tmp_path / f"shard{r}.json").read_text()) for r in (0, 1)]
    single = PruningSampler(101, epochs=8, prune=0.5, seed=3)
    single.update(torch.arange(101), torch.linspace(0.0, 2.0, 101))
    single.set_epoch(1)
    kept = set(single)
    assert shards[0]["visited"] == shards[1]["visited"] == len(kept) < 101
    union = set(shards[0]["indices"]) | set(shards[1]["indices"])
    assert union == kept
    assert abs(len(shards[0]["indices"]) - len(shards[1]["indices"])) == 0


@pytest.mark.parametrize("prune", [0.0, 0.5])
def test_torchrun_example_records_every_example_once(tmp_path: Path, prune: float) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        str(ROOT / "examples" / "ddp_train.py"), "--out", str(out), "--limit", "999",
        "--epochs", "3", "--prune", str(prune),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    if proc.returncode != 0 and GLOO_TEARDOWN_ABORT in proc.stderr:
        # gloo's C++ threads now and then abort a rank (SIGABRT) on a loaded 2-core machine;
        # that one known failure gets one more try, any other fails at once.
        shutil.rmtree(out, ignore_errors=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "ddp_summary.json").read_text())
    store = DynamicsStore(out / "dynamics")
    assert store.finished_epochs() == 3
    loss = store.read("loss").astype(np.float32)
    assert loss.shape == (summary["rows"], 3) and summary["rows"] % 2 == 1
    if prune == 0.0:
        assert summary["duplicates_dropped"] == [1, 1, 1]
        assert not np.isnan(loss).any()
    else:
        seen = (~np.isnan(loss)).sum(0)
        assert seen[0] == summary["rows"]
        assert seen.tolist() == summary["visited"]
