"""When the API's relay of stored webhook deliveries starts a pass: after a pause in
arrivals, at the longest delay under a burst that goes on, never right after another pass."""

from __future__ import annotations

from lms.payments.relay_thread import MAX_DELAY, MIN_INTERVAL, QUIET, pass_at

NEVER = float("-inf")


def test_a_lone_delivery_waits_only_for_the_quiet_spell():
    assert pass_at(woken=100.0, last_arrival=100.0, last_pass=NEVER) == 100.0 + QUIET


def test_a_burst_holds_the_pass_until_arrivals_pause():
    # Woken at 100 s; the burst's latest delivery came at 101.5 s.
    assert pass_at(woken=100.0, last_arrival=101.5, last_pass=NEVER) == 101.5 + QUIET


def test_a_burst_that_goes_on_is_relayed_at_the_longest_delay():
    # Deliveries still arriving 6 s after the wake: the pass does not wait for a pause.
    assert pass_at(woken=100.0, last_arrival=106.0, last_pass=NEVER) == 100.0 + MAX_DELAY


def test_no_pass_starts_within_the_minimum_interval_of_the_last():
    # The last pass began a moment ago; the pause alone would allow one sooner.
    last = 100.1
    assert pass_at(woken=100.0, last_arrival=99.0, last_pass=last) == last + MIN_INTERVAL


def test_a_retry_after_a_failure_goes_at_once():
    # Woken by the retry timer, with no delivery for a long while and the last pass long ago.
    assert pass_at(woken=200.0, last_arrival=150.0, last_pass=190.0) == 190.0 + MIN_INTERVAL
    assert pass_at(woken=200.0, last_arrival=150.0, last_pass=190.0) < 200.0
