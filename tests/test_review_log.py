import csv
import io
import sqlite3
import threading

import pytest

from stratigraphy.curate.review_log import ReviewError, ReviewLog, replay


@pytest.fixture()
def log(tmp_path):
    return ReviewLog(tmp_path / "review.sqlite", n_examples=100, n_classes=10)


def test_state_is_the_latest_decision_other_than_skip(log):
    log.append(3, "relabel", 4, "ana")
    log.append(3, "skip", reviewer="ben")
    log.append(5, "remove", reviewer="ana")
    log.append(5, "keep", reviewer="ben")
    state = log.state()
    assert state[3].decision == "relabel" and state[3].label == 4
    assert state[5].decision == "keep" and set(state) == {3, 5}
    assert state == replay(log.decisions())


def test_the_log_refuses_updates_and_deletes(log, tmp_path):
    log.append(1, "ood")
    con = sqlite3.connect(tmp_path / "review.sqlite")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE decisions SET decision = 'keep'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("DELETE FROM decisions")
    con.close()
    assert log.count() == 1


@pytest.mark.parametrize(
    ("example", "decision", "label", "message"),
    [
        (100, "keep", None, "unknown example"),
        (-1, "keep", None, "unknown example"),
        (1, "relabel", None, "relabel needs a class"),
        (1, "relabel", 10, "relabel needs a class"),
        (1, "keep", 3, "only relabel takes a label"),
        (1, "delete", None, "decision must be one of"),
    ],
)
def test_invalid_decisions_are_refused_and_nothing_is_written(
    log, example, decision, label, message
):
    with pytest.raises(ReviewError, match=message):
        log.append(example, decision, label)
    assert log.count() == 0


def test_text_is_stored_as_data_not_sql(log):
    name = "x'); DROP TABLE decisions; --"
    log.append(2, "keep", reviewer=name)
    assert log.decisions()[0].reviewer == name and log.count() == 1


def test_concurrent_writers_lose_nothing(log):
    def worker(w):
        for i in range(50):
            log.append(
                (w * 50 + i) % 100,
                "relabel" if i % 2 else "keep",
                (i % 10) if i % 2 else None,
                f"r{w}",
            )

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert log.count() == 300
    assert log.state() == replay(log.decisions())


def test_csv_export(log):
    log.append(7, "relabel", 2, "ana")
    log.append(7, "keep", reviewer="ben")
    full = log.to_csv().splitlines()
    assert full[0] == "id,example,decision,label,reviewer,created_at" and len(full) == 3
    current = log.to_csv(current_only=True).splitlines()
    assert len(current) == 2 and ",keep,," in current[1]


def test_replace_into_an_existing_id_is_refused(log):
    log.append(1, "keep", reviewer="ann")
    con = sqlite3.connect(log.path)
    for verb in ("INSERT OR REPLACE INTO", "REPLACE INTO"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute(
                f"{verb} decisions (id, example, decision, label, reviewer, created_at) "
                "VALUES (1, 1, 'remove', NULL, 'eve', 'now')"
            )
    con.close()
    assert [d.decision for d in log.decisions()] == ["keep"]


def test_a_rewrite_outside_the_package_breaks_the_hash_chain(log):
    for i in range(4):
        log.append(i, "keep", reviewer="ann")
    assert log.verify().ok and log.verify().rows == 4
    con = sqlite3.connect(log.path)
    con.execute("DROP TRIGGER decisions_no_update")
    con.execute("UPDATE decisions SET decision = 'remove' WHERE id = 3")
    con.commit()
    con.close()
    result = log.verify()
    assert not result.ok and result.first_bad == 3


def test_csv_cells_that_start_a_formula_are_neutralised(log):
    log.append(2, "keep", reviewer='=HYPERLINK("http://evil.example","x")')
    log.append(3, "keep", reviewer="@SUM(A1)")
    rows = list(csv.reader(io.StringIO(log.to_csv())))
    assert rows[1][4].startswith("'=HYPERLINK") and rows[2][4] == "'@SUM(A1)"
