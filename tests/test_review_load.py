"""A load test against a running review server: 8 concurrent clients, 2,000 decisions."""

from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np

from stratigraphy.curate.review_log import ReviewLog, replay

CLIENTS = 8
TOTAL = 2000


def _client(url: str, worker: int) -> int:
    rng = np.random.default_rng(worker)
    ok = 0
    with httpx.Client(base_url=url, timeout=30.0) as c:
        for _ in range(TOTAL // CLIENTS):
            example = int(rng.integers(0, 1797))
            kind = ["keep", "relabel", "ood", "remove", "skip"][int(rng.integers(0, 5))]
            body = {"example": example, "decision": kind, "reviewer": f"client{worker}"}
            if kind == "relabel":
                body["label"] = int(rng.integers(0, 10))
            r = c.post("/api/decisions", json=body)
            ok += r.status_code == 201
    return ok


def test_eight_clients_two_thousand_decisions(live_server):
    url, run_dir = live_server
    with ThreadPoolExecutor(CLIENTS) as pool:
        accepted = sum(pool.map(lambda w: _client(url, w), range(CLIENTS)))
    assert accepted == TOTAL
    log = ReviewLog(run_dir / "review.sqlite", 1797, 10)
    decisions = log.decisions()
    assert len(decisions) == TOTAL == log.count()
    assert len({d.id for d in decisions}) == TOTAL
    assert log.state() == replay(decisions)
    with httpx.Client(base_url=url) as c:
        assert c.get("/api/queue").json()["logged"] == TOTAL
