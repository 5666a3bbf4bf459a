"""`nautlive data download` within Binance's request limits, against `nautlive sim`'s REST klines and its limit
controls: the weight header near the venue's limit pauses the download until the next window (so the venue never
refuses it), and an IP ban (HTTP 418) is waited out as its Retry-After says."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nautlive.cli.app import app
from nautlive.data.klines import iso
from nautlive.data.store import read_rows
from nautlive.venues.binance.archive import used_weight, weight_pause
from tests.conftest import REPO
from tests.live_helpers import start_venue

runner = CliRunner()


@pytest.fixture
def venue():
    with start_venue() as running:
        yield running


def _control(venue, path: str) -> dict:
    request = urllib.request.Request(f"{venue.http_url}{path}", method="POST")
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.loads(answer.read())


def _download(tmp_path: Path, venue, *args: str):
    text = (REPO / "profiles" / "binance-sim.yaml").read_text()
    text = text.replace("binance:\n", f"binance:\n  archive_url: {venue.http_url}\n", 1)
    text = re.sub(r"base_url_http: .*", f"base_url_http: {venue.http_url}", text)
    profile = tmp_path / "sim.yaml"
    profile.write_text(text.replace("catalog: artifacts/", f"catalog: {REPO}/artifacts/"))
    now_ms = int(time.time() * 1000)
    return runner.invoke(app, ["data", "download", "--profile", str(profile), "--out", str(tmp_path / "bars"),
                               "--start", iso(now_ms - 10 * 60_000), *args])


def test_the_used_weight_header_names_its_window_and_the_pause_ends_with_it():
    assert used_weight({"Content-Type": "x", "x-mbx-used-weight-1m": "4810"}) == (4810, 60.0)
    assert used_weight({"X-MBX-USED-WEIGHT-10S": "7"}) == (7, 10.0)
    assert used_weight({"X-MBX-USED-WEIGHT": "7"}) is None
    assert weight_pause(120.5, 60.0) == pytest.approx(60.5)  # to the next minute, and a second more
    assert weight_pause(7.0, 3.0) == pytest.approx(2.3)


def test_weight_near_the_venues_limit_pauses_until_the_next_window(tmp_path, venue):
    _control(venue, "/__sim/weight_limit?limit=30&window=3")  # exchangeInfo's rateLimits say so too
    started = time.monotonic()
    result = _download(tmp_path, venue)
    assert result.exit_code == 0, result.output
    pauses = re.findall(r"request weight (\d+) of 30 used in this 3 s window: waiting (\d) s", result.stderr)
    assert pauses and all(int(used) >= 24 for used, _ in pauses), result.stderr
    assert time.monotonic() - started >= 0.3
    assert venue.sim.limits.refused == {429: 0, 418: 0}  # paused before the venue had to refuse


def test_an_ip_ban_418_is_waited_out_as_retry_after_says(tmp_path, venue):
    _control(venue, "/__sim/rate_limit?status=418&retry_after=1&count=1")
    started = time.monotonic()
    result = _download(tmp_path, venue, "--symbols", "BTCUSDT")
    assert result.exit_code == 0, result.output
    assert f"{venue.http_url} answered 418 (IP banned for a while): waiting 1 s as Retry-After says" in result.stderr
    assert time.monotonic() - started >= 1.0 and venue.sim.limits.refused[418] == 1
    path = tmp_path / "bars" / "BTCUSDT-1m.parquet"
    assert not path.exists() or all(r[0] % 60_000 == 0 for r in read_rows(path))
