"""How a fan-out's recipients are cut into batches stored at once."""

from __future__ import annotations

from lms.notifications.service import fanout_batches


def test_a_large_fan_out_is_split_over_the_connections_in_order():
    ids = list(range(10_000))
    batches = fanout_batches(ids, 10_000, 2)
    assert [len(b) for b in batches] == [5000, 5000]
    assert [i for b in batches for i in b] == ids


def test_batches_never_exceed_the_batch_size():
    ids = list(range(25_001))
    batches = fanout_batches(ids, 10_000, 2)
    assert [len(b) for b in batches] == [8334, 8334, 8333]
    assert [i for b in batches for i in b] == ids


def test_a_small_fan_out_stays_one_batch():
    assert fanout_batches(list(range(1999)), 10_000, 2) == [list(range(1999))]
    assert fanout_batches([7], 10_000, 4) == [[7]]
    assert fanout_batches([], 10_000, 2) == []


def test_one_connection_keeps_the_batch_size():
    assert [len(b) for b in fanout_batches(list(range(5000)), 2000, 1)] == [1667, 1667, 1666]
