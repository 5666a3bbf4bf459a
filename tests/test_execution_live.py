"""Issue #31: `twap` and `passive_then_market` LIVE against `nautlive sim` (the real Nautilus Binance clients), and
their faults: SIGTERM and the kill switch mid-TWAP cancel what is left (nothing more is sent), the summary says what
was left undone, every child fill is in the drift log once with its parent id."""

from __future__ import annotations

import itertools
import json
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tests.live_helpers import (
    BAND,
    TARGETS,
    D,
    error_line,
    finish,
    order_posts,
    run_live,
    start_live,
    state,
    wait_until,
    weights_at_venue,
)

pytestmark = pytest.mark.slow


def use_execution(directory: Path, **execution: object) -> None:
    profile = yaml.safe_load((directory / "profile.yaml").read_text())
    profile["execution"] = execution
    (directory / "profile.yaml").write_text(yaml.safe_dump(profile))


def drift_lines(directory: Path) -> list[dict]:
    path = directory / "drift.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def assert_each_venue_trade_logged_once_with_its_parent(directory: Path, venue) -> None:  # noqa: ANN001
    lines = drift_lines(directory)
    trades = Counter(line["trade_id"] for line in lines)
    assert all(n == 1 for n in trades.values())
    assert sorted(trades) == sorted(str(f["id"]) for f in state(venue)["fills"])
    # a fill recovered from the venue after a kill -9 has no parent (the venue does not know it); the others all do
    assert all(line["parent_order_id"] and line["style"] and line["arrival_mid"] for line in lines
               if not line["recovered"])


def assert_on_target(venue) -> None:  # noqa: ANN001
    for iid, weight in weights_at_venue(venue).items():
        assert abs(weight - D(str(TARGETS[iid]))) <= BAND, (iid, weight)


def test_live_once_twap_sends_children_over_the_horizon_and_reaches_the_target(venue, session_dir):
    use_execution(session_dir, style="twap", horizon_secs=3, interval_secs=1, child="market")
    started = time.monotonic()
    done = run_live(session_dir, venue, "--arm", "--once")
    assert done.returncode == 0, done.stderr[-3000:]
    posts = order_posts(venue)
    assert len(posts) == 6 and {p["params"]["type"] for p in posts} == {"MARKET"}  # 3 children x 2 instruments
    by_symbol = {}
    for post in posts:
        by_symbol.setdefault(post["params"]["symbol"], []).append(post["time"])
    for times in by_symbol.values():
        gaps = [(b - a) / 1000 for a, b in zip(times, times[1:], strict=False)]
        assert all(0.8 <= gap <= 2.5 for gap in gaps), gaps
    assert time.monotonic() - started >= 2
    assert_on_target(venue)
    assert_each_venue_trade_logged_once_with_its_parent(session_dir, venue)
    parents = {line["parent_order_id"] for line in drift_lines(session_dir)}
    assert len(parents) == 2 and {line["style"] for line in drift_lines(session_dir)} == {"twap"}


@pytest.mark.parametrize("stop", ["SIGTERM", "kill switch"])
def test_a_stop_mid_twap_sends_nothing_more_and_says_what_was_left_undone(venue, session_dir, stop):
    use_execution(session_dir, style="twap", horizon_secs=20, interval_secs=5, child="market")
    proc = start_live(session_dir, venue, "--arm", "--summary", "s.json")
    wait_until(lambda: len(order_posts(venue)) >= 2, 30, "the first children", proc)
    time.sleep(0.5)
    if stop == "SIGTERM":
        proc.send_signal(signal.SIGTERM)
    else:
        (session_dir / "artifacts").mkdir(exist_ok=True)
        (session_dir / "artifacts" / "KILL").touch()
    code, stdout, stderr = finish(proc, session_dir)
    assert code == (4 if stop == "kill switch" else 0), stderr[-3000:]
    sent = len(order_posts(venue))
    assert sent == 2  # the first slice of each instrument; the three later slices never went out
    time.sleep(5.5)
    assert len(order_posts(venue)) == sent
    text = error_line(stderr) if stop == "kill switch" else stdout.splitlines()[-1]
    assert "2 parent order(s) left undone:" in text and "(twap, session stopped)" in text
    summary = json.loads((session_dir / "s.json").read_text())
    undone = summary["undone"]
    assert {u["instrument"] for u in undone} == set(TARGETS)
    assert all(D(u["left"]) > 0 for u in undone)
    assert not [o for o in state(venue)["orders"] if o["status"] in ("NEW", "PARTIALLY_FILLED")]
    assert_each_venue_trade_logged_once_with_its_parent(session_dir, venue)


def test_live_once_passive_posts_limit_makers_at_the_touch_then_crosses_the_rest(venue, session_dir):
    use_execution(session_dir, style="passive_then_market", patience_secs=2)
    done = run_live(session_dir, venue, "--arm", "--once")
    assert done.returncode == 0, done.stderr[-3000:]
    posts = order_posts(venue)
    makers = [p["params"] for p in posts if p["params"]["type"] == "LIMIT_MAKER"]
    assert makers and "timeInForce" not in makers[0]
    assert {p["params"]["type"] for p in posts} <= {"LIMIT_MAKER", "MARKET"}
    assert len([p for p in posts if p["params"]["type"] == "MARKET"]) <= 2  # at most the rest of each parent
    assert_on_target(venue)
    assert_each_venue_trade_logged_once_with_its_parent(session_dir, venue)
    assert len({line["parent_order_id"] for line in drift_lines(session_dir)}) == 2


def test_the_hourly_order_budget_counts_twap_children(venue, session_dir):
    """Two parents of three children each are six orders: a budget of five refuses the rebalance before any order."""
    use_execution(session_dir, style="twap", horizon_secs=3, interval_secs=1, child="market")
    profile = yaml.safe_load((session_dir / "profile.yaml").read_text())
    profile["risk"] = {"max_orders_per_hour": 5}
    (session_dir / "profile.yaml").write_text(yaml.safe_dump(profile))
    done = run_live(session_dir, venue, "--arm", "--once")
    assert done.returncode == 4, done.stderr[-3000:]
    assert "this rebalance needs 6 more, risk.max_orders_per_hour is 5" in error_line(done.stderr)
    assert order_posts(venue) == []


def test_sigterm_with_a_resting_passive_order_cancels_it_and_says_what_was_left(venue, session_dir):
    use_execution(session_dir, style="passive_then_market", patience_secs=60)
    venue.call(lambda: venue.sim.set_quote("BTCUSDT", bid=D("60000.00"), ask=D("60000.01")))  # pinned: never crossed
    venue.call(lambda: venue.sim.set_quote("ETHUSDT", bid=D("2600.00"), ask=D("2600.01")))
    proc = start_live(session_dir, venue, "--arm", "--summary", "s.json")
    wait_until(lambda: len(order_posts(venue)) >= 2, 30, "the post-only orders", proc)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    code, stdout, stderr = finish(proc, session_dir)
    assert code == 0, stderr[-3000:]
    assert {p["params"]["type"] for p in order_posts(venue)} == {"LIMIT_MAKER"}  # no market order for the rest
    assert [o["status"] for o in state(venue)["orders"]] == ["CANCELED", "CANCELED"]  # confirmed at the venue
    last = stdout.splitlines()[-1]
    assert "orders at stop: 2 cancelled" in last and "2 parent order(s) left undone" in last
    assert "(passive_then_market, session stopped)" in last
    assert {u["instrument"] for u in json.loads((session_dir / "s.json").read_text())["undone"]} == set(TARGETS)
    assert drift_lines(session_dir) == []


def test_after_kill_9_mid_twap_the_next_run_plans_the_rest_from_the_venue_and_doubles_nothing(venue, session_dir):
    use_execution(session_dir, style="twap", horizon_secs=30, interval_secs=10, child="market")
    proc = start_live(session_dir, venue, "--arm")
    wait_until(lambda: len(order_posts(venue)) >= 2, 30, "the first children", proc)
    time.sleep(0.5)
    proc.kill()
    proc.wait()
    first = len(order_posts(venue))
    assert first == 2  # one child of three per instrument went out
    use_execution(session_dir, style="twap", horizon_secs=2, interval_secs=1, child="market")
    done = run_live(session_dir, venue, "--arm", "--once")
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(order_posts(venue)) - first == 4  # the rest planned again from the venue: two children each
    assert_on_target(venue)  # not beyond it: nothing was sent twice
    assert_each_venue_trade_logged_once_with_its_parent(session_dir, venue)



def die(running, how: str) -> None:  # noqa: ANN001
    """The venue gone (its process stopped), or its REST API holding every request unanswered while the market
    streams go on (quotes keep coming, so a child falls due while it is down)."""
    if how == "killed":
        running.stop()
    else:
        running.call(running.sim.stall, None)


@pytest.mark.parametrize("how", ["killed", "REST stalled"])
def test_a_venue_dead_mid_twap_stops_the_session_sends_no_further_child_and_says_what_was_left_undone(session_dir,
                                                                                                      how):
    """The venue dies after the first children filled, the next child falling due while it is down: no child goes
    out (it waits while the venue is not answering), the session ends after live.down_timeout (exit 1, as
    documented), the summary and --json say what was left undone, and each fill is in the drift log once with its
    parent."""
    from tests.live_helpers import start_venue

    use_execution(session_dir, style="twap", horizon_secs=40, interval_secs=8, child="market")
    profile = yaml.safe_load((session_dir / "profile.yaml").read_text())
    profile["live"].update(down_report_secs=1, down_timeout=6)
    (session_dir / "profile.yaml").write_text(yaml.safe_dump(profile))
    with start_venue() as running:
        proc = start_live(session_dir, running, "--arm", "--json", "--summary", "s.json")
        wait_until(lambda: len(drift_lines(session_dir)) >= 2, 30, "the first children filled and logged", proc)
        fills = state(running)["fills"]
        die(running, how)
        code, stdout, stderr = finish(proc, session_dir, timeout=60)
        if how == "REST stalled":
            assert len(order_posts(running)) == 2, order_posts(running)  # the first child of each instrument only
    assert code == 1, stderr[-3000:]
    line = error_line(stderr)
    assert "venue not answering for" in line and "live.down_timeout" in line, line
    assert "2 parent order(s) left undone:" in line and "(twap, session stopped)" in line, line
    for undone in (json.loads((session_dir / "s.json").read_text())["undone"], json.loads(stdout)["undone"]):
        assert {u["instrument"] for u in undone} == set(TARGETS) and all(D(u["left"]) > 0 for u in undone)
    lines = drift_lines(session_dir)
    assert sorted(line["trade_id"] for line in lines) == sorted(str(f["id"]) for f in fills)
    assert all(line["parent_order_id"] and line["style"] == "twap" for line in lines)
    assert len({line["parent_order_id"] for line in lines}) == 2


def test_twap_children_held_while_the_venue_stalled_resume_spaced_not_in_a_burst(session_dir):
    """REST stalls right after the first children. The children due before the session sees it (its ping waits
    5 s) go into the stall; those due after it wait, and on the venue's return they go out one interval apart
    (the schedule slips), not at once. The run ends at target, each trade logged once with its parent."""
    from tests.live_helpers import start_venue

    use_execution(session_dir, style="twap", horizon_secs=12, interval_secs=2, child="market")
    profile = yaml.safe_load((session_dir / "profile.yaml").read_text())
    profile["live"].update(down_report_secs=1, down_timeout=60, fill_timeout=60)
    (session_dir / "profile.yaml").write_text(yaml.safe_dump(profile))
    with start_venue() as running:
        proc = start_live(session_dir, running, "--arm", "--once")
        wait_until(lambda: len(drift_lines(session_dir)) >= 2, 30, "the first children filled and logged", proc)
        running.call(running.sim.stall, None)
        time.sleep(10)
        running.call(running.sim.clear_stall)
        code, _, stderr = finish(proc, session_dir, timeout=90)
        posts = order_posts(running)
        assert code == 0, stderr[-3000:]
        assert_on_target(running)
        assert_each_venue_trade_logged_once_with_its_parent(session_dir, running)
    for symbol in {p["params"]["symbol"] for p in posts}:
        times = [p["time"] for p in posts if p["params"]["symbol"] == symbol]
        assert len(times) == 6, times  # every slice went out
        assert min(b - a for a, b in itertools.pairwise(times)) >= 1_500, times  # none in a burst: ~2 s apart
    starts = {(line["parent_order_id"], line["parent_ts"]) for line in drift_lines(session_dir)}
    assert len(starts) == 2, starts  # the slip moves the schedule, not the parent's arrival (its time to complete)
