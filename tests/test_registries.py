"""A suite, a score and an inferer are each added in one place, and every stage picks them up."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from stratigraphy import ProbeConfig, analyze, build_probes
from stratigraphy.analysis.inference import INFERERS, KNNInferer
from stratigraphy.analysis.scores import SCORES, Score, register_score
from stratigraphy.core.registry import Registry
from stratigraphy.curate.prune_by import prune_scores
from stratigraphy.data.noise import plant_label_noise
from stratigraphy.present.plots import kind_colour
from stratigraphy.probes.suites import (
    SUITES,
    ProbeInputs,
    Suite,
    TransformContext,
    register_suite,
    suites_where,
)
from stratigraphy.record.training import TrainConfig, train_and_record


def _half_noise(ctx: TransformContext, src: np.ndarray, size: int, rng: np.random.Generator):  # type: ignore[no-untyped-def]
    noise = rng.standard_normal(ctx.X[src].shape).astype(np.float32)
    return ProbeInputs(ctx.X[src] + 0.5 * ctx.X.std(0) * noise, ctx.y[src], ["half"] * src.size)


@pytest.fixture()
def extra_suite() -> Iterator[Suite]:
    suite = register_suite(
        Suite("half_noise", "consumed", label_wrong=False, colour="#123456", flagged=True,
              transform=_half_noise)
    )  # fmt: skip
    yield suite
    SUITES.unregister("half_noise")


@pytest.fixture()
def extra_score() -> Iterator[Score]:
    score = register_score(Score("last_loss", lambda s: s.loss[:, -1], 1.0, prune_keep_high=True))
    yield score
    SCORES.unregister("last_loss")


def test_registry_refuses_a_second_entry_of_one_name() -> None:
    reg: Registry[Suite] = Registry("suite")
    reg.register(Suite("a", "in_place", label_wrong=False, colour="#000"))
    with pytest.raises(ValueError, match="registered already"):
        reg.register(Suite("a", "in_place", label_wrong=False, colour="#111"))
    assert list(reg) == ["a"] and "a" in reg and len(reg) == 1


def test_builtin_facts_are_read_from_the_registry() -> None:
    assert suites_where(flagged=True) == ("mislabeled", "corrupted", "random_input")
    assert suites_where(label_wrong=True) == ("mislabeled",)
    assert kind_colour("mislabeled") == SUITES["mislabeled"].colour
    assert set(prune_scores()) == {"mean_loss", "aum", "forgetting", "el2n", "random"}


def test_a_registered_suite_and_score_flow_through_build_and_analysis(
    tmp_path,
    digits,
    extra_suite,
    extra_score,  # type: ignore[no-untyped-def]
) -> None:
    given, flipped = plant_label_noise(digits.y, 10, 0.1, seed=0)
    suites = ("typical", "mislabeled", "half_noise")
    probed = build_probes(digits.X, given, 10, ProbeConfig(suites=suites, size=30, seed=0))
    made = probed.probes.to_pandas()
    assert (made["suite"] == "half_noise").sum() == 30
    assert (made.loc[made["suite"] == "half_noise", "transform"] == "half").all()
    assert (probed.example_row[made.loc[made["suite"] == "half_noise", "source"]] == -1).all()
    train_and_record(probed.X, probed.y, 10, TrainConfig(epochs=4, model="mlp"), tmp_path)
    from stratigraphy import DynamicsStore

    result = analyze(DynamicsStore(tmp_path / "dynamics").read_all(), probed, truth=flipped)
    columns = result.examples.column_names
    assert "p_half_noise" in columns and "last_loss" in columns
    assert "last_loss" in result.summary["mislabel_score"]["heldout_ap"]
    assert "last_loss" in result.summary["detection"]["scores"]
    assert kind_colour("half_noise") == "#123456"
    assert "last_loss" in prune_scores()


def test_inferers_are_estimators_in_one_table() -> None:
    assert set(INFERERS) == {"knn", "classifier"}
    knn = INFERERS["knn"](7, 0)
    assert isinstance(knn, KNNInferer) and knn.k == 7 and not hasattr(knn, "refs_")
