"""`nautlive record` against `nautlive sim` replaying a real recording: what it records replays to the same quotes as
the source; a dropped WebSocket is reconnected, marked with a gap line and resynced with a new snapshot; SIGINT and
SIGTERM leave complete files."""

from __future__ import annotations

import gzip
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from nautlive.catalog.specs import load_catalog, spec_to_instrument
from nautlive.config.home import resolve_profile_paths
from nautlive.config.profile import load_profile
from nautlive.data.recorded import read_recorded, replay_ticks
from nautlive.sim.binance import simulator_for_profile
from nautlive.sim.feed import read_recording
from nautlive.sim.server import start_in_thread
from tests.conftest import REPO, shared_file

SOURCES = ("btcusdt_20240808.gz", "ethusdt_20240808.gz")


@pytest.fixture(scope="module")
def instruments():
    catalog = load_catalog(REPO / "artifacts" / "catalog" / "binance.yaml")
    return {spec.symbol: spec_to_instrument(spec) for spec in catalog.instruments}


@pytest.fixture
def venue(monkeypatch):
    sources = [shared_file("binance", "market", name) for name in SOURCES]
    monkeypatch.chdir(REPO)
    sim = simulator_for_profile(resolve_profile_paths(load_profile("binance-sim")))
    with start_in_thread(sim, recordings=[read_recording(p) for p in sources]) as running:
        running.sources = sources
        yield running


def _record(tmp_path: Path, venue, *args: str) -> subprocess.Popen:
    profile = tmp_path / "rec.yaml"
    text = (REPO / "profiles" / "binance.yaml").read_text()
    profile.write_text(text.replace("binance:\n", f"binance:\n  base_url_http: {venue.http_url}\n"
                                                  f"  base_url_ws: {venue.ws_url}\n", 1))
    return subprocess.Popen([sys.executable, "-m", "nautlive", "record", "--profile", str(profile), "--out",
                             str(tmp_path / "rec"), *args], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})


def _quotes(path: Path, instruments) -> list[tuple]:
    return [(str(q.instrument_id), str(q.bid_price), str(q.ask_price), str(q.bid_size), str(q.ask_size))
            for q in read_recorded(path, instruments, kinds=("quotes",))]


def _is_run_of(part: list, whole: list) -> bool:
    """Whether `part` is a contiguous run of `whole` (the recording began somewhere in the looped source)."""
    if not part:
        return False
    starts = [i for i, q in enumerate(whole) if q == part[0]]
    return any(whole[i:i + len(part)] == part for i in starts)


def _files(tmp_path: Path) -> dict[str, Path]:
    return {p.name.split("_")[0]: p for p in (tmp_path / "rec").glob("*.gz")}


@pytest.mark.slow
def test_a_recording_replays_to_the_same_quotes_as_the_source(tmp_path, venue, instruments):
    proc = _record(tmp_path, venue, "--duration", "20")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    files = _files(tmp_path)
    assert sorted(files) == ["btcusdt", "ethusdt"] and not list((tmp_path / "rec").glob("*.part")), out
    for source in venue.sources:
        recorded = files[source.name.split("_")[0]]
        quotes = _quotes(recorded, instruments)
        assert len(quotes) > 100 and _is_run_of(quotes, _quotes(source, instruments))
        assert f"wrote {recorded}: " in out
    lines = gzip.decompress(files["btcusdt"].read_bytes()).splitlines()
    assert any(b' {"lastUpdateId"' in line[:40] for line in lines)  # the REST snapshot, as the source has one
    assert not any(b' {"gap"' in line[:30] for line in lines)
    ticks = replay_ticks(list(files.values()), instruments)  # the replay feed's own reader: quotes, trades, book
    assert {type(t).__name__ for t in ticks} == {"QuoteTick", "TradeTick", "OrderBookDeltas"}


@pytest.mark.slow
def test_a_dropped_stream_is_marked_resynced_and_ctrl_c_leaves_complete_files(tmp_path, venue, instruments):
    proc = _record(tmp_path, venue)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True).start()
    while not lines.get(timeout=60).startswith("stream open: "):
        pass
    time.sleep(4)
    assert venue.call(venue.sim.drop_connections) >= 1
    while not lines.get(timeout=30).startswith("stream open again"):
        pass
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    err = "".join(lines.queue)
    assert proc.returncode == 130, err
    assert err.splitlines()[-1] == "interrupted"
    recorded = _files(tmp_path)["btcusdt"]
    lines = gzip.decompress(recorded.read_bytes()).splitlines()
    gap = next(i for i, line in enumerate(lines) if b' {"gap":"stream lost: reconnected","symbol":"BTCUSDT"}' in line)
    assert any(b' {"lastUpdateId"' in line[:40] for line in lines[gap:]), "no new snapshot after the gap"
    source = _quotes(venue.sources[0], instruments)
    before = [q for q in _quotes(recorded, instruments)]
    assert len(before) > 50 and all(q in source for q in before)
    assert len(read_recording(recorded)) > 100  # `sim --replay` reads it too


def test_an_unknown_symbol_is_one_line_exit_2_with_nothing_written(tmp_path, venue):
    proc = _record(tmp_path, venue, "--symbols", "BTCUSDT,NOPEUSDT", "--duration", "5")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert err.splitlines()[-1] == f"error: unknown symbol NOPEUSDT: {venue.http_url} says 'Invalid symbol.'"
    assert not list((tmp_path / "rec").iterdir())


def test_an_unreachable_venue_is_exit_1_naming_it(tmp_path):
    profile = tmp_path / "rec.yaml"
    text = (REPO / "profiles" / "binance.yaml").read_text()
    profile.write_text(text.replace("binance:\n", "binance:\n  base_url_http: http://127.0.0.1:9\n"
                                                  "  base_url_ws: ws://127.0.0.1:9\n", 1))
    proc = subprocess.run([sys.executable, "-m", "nautlive", "record", "--profile", str(profile), "--out",
                           str(tmp_path / "rec"), "--duration", "5"], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1].startswith("error: http://127.0.0.1:9/api/v3/depth: venue unreachable: "
                                                   "connection refused")
    assert not list((tmp_path / "rec").iterdir())  # no empty recording left behind


def test_readers_drop_depth_diffs_between_a_gap_line_and_the_next_snapshot(tmp_path, instruments):
    from nautlive.venues.binance.record import gap_line

    source = shared_file("binance", "market", SOURCES[0])
    lines = gzip.decompress(source.read_bytes()).splitlines(keepends=True)[:800]
    snapshot = next(line for line in lines if b' {"lastUpdateId"' in line[:40])
    at = 200
    ts = int(lines[at].split(b" ", 1)[0])
    marked = lines[:at] + [gap_line(ts, "BTCUSDT", "stream lost: reconnected")] + lines[at:500] + [
        f"{int(lines[499].split(b' ', 1)[0])} ".encode() + snapshot.split(b" ", 1)[1]] + lines[500:]
    plain, gapped = tmp_path / "plain.gz", tmp_path / "gapped.gz"
    plain.write_bytes(gzip.compress(b"".join(lines)))
    gapped.write_bytes(gzip.compress(b"".join(marked)))
    depth_between = sum(b'@depth@100ms"' in line[:60] for line in lines[at:500])
    assert depth_between > 5
    # the replay feed and the backtest: quotes and trades go on, the book waits for the snapshot
    assert _quotes(gapped, instruments) == _quotes(plain, instruments)
    kinds = [type(t).__name__ for t in read_recorded(gapped, instruments)]
    assert kinds.count("QuoteTick") == [type(t).__name__ for t in read_recorded(plain, instruments)].count("QuoteTick")
    # `sim --replay`: the diffs after the gap line are not replayed until the snapshot
    assert len(read_recording(plain)) - len(read_recording(gapped)) == depth_between - 1  # +1 snapshot line


@pytest.mark.slow
def test_sigterm_ends_a_recording_with_exit_0_and_complete_files(tmp_path, venue, instruments):
    proc = _record(tmp_path, venue)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True).start()
    while not lines.get(timeout=60).startswith("stream open: "):
        pass
    time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, "".join(lines.queue)
    files = _files(tmp_path)
    assert sorted(files) == ["btcusdt", "ethusdt"]
    assert all(len(_quotes(path, instruments)) > 10 for path in files.values())
