"""Target weights: parsing and validation (every bad input named), and the file watcher on a real directory."""

from __future__ import annotations

import asyncio
import json
import os
import time
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nautlive.cli.app import app
from nautlive.core.signals import (
    MAX_TARGET_FILE_BYTES,
    TargetRejected,
    TargetWeightWatcher,
    parse_targets,
    read_targets,
)

BTC, ETH = "BTCUSDT.BINANCE", "ETHUSDT.BINANCE"
KNOWN = {BTC, ETH}
GOOD = {"as_of": "2026-11-24T12:00:00Z", "weights": {BTC: 0.5, ETH: 0.3}}
runner = CliRunner()


def body(doc: object) -> bytes:
    return json.dumps(doc).encode()


def parse(raw: bytes):  # noqa: ANN201
    return parse_targets(raw, KNOWN, "BINANCE", source="t.json")


# -- parse_targets: good inputs ----------------------------------------------------------------------------------


def test_weights_document_parses_to_decimals_with_as_of():
    targets = parse(body(GOOD))
    assert targets.weights == {BTC: Decimal("0.5"), ETH: Decimal("0.3")}
    assert targets.as_of == "2026-11-24T12:00:00Z"
    assert targets.source == "t.json"


def test_bare_mapping_is_accepted_and_hashes_like_the_full_document():
    assert parse(body({BTC: 0.5, ETH: 0.3})).hash == parse(body(GOOD)).hash


def test_hash_ignores_key_order_and_as_of_but_not_weights():
    reordered = {"weights": {ETH: 0.3, BTC: 0.5}, "as_of": "another time"}
    assert parse(body(reordered)).hash == parse(body(GOOD)).hash
    assert parse(body({BTC: 0.5, ETH: 0.2})).hash != parse(body(GOOD)).hash


def test_weights_summing_to_exactly_one_and_zero_weights_are_fine():
    assert sum(parse(body({BTC: 0.7, ETH: 0.3})).weights.values()) == 1
    assert parse(body({BTC: 0, ETH: 0})).weights[BTC] == 0


def test_decimal_strings_are_read_exactly():
    assert parse(body({BTC: "0.1", ETH: "0.2"})).weights == {BTC: Decimal("0.1"), ETH: Decimal("0.2")}


# -- parse_targets: every bad input is rejected with its reason --------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"hello", "not valid JSON"),
        (body(GOOD)[:-7], "not valid JSON"),  # truncated mid-write
        (b"", "empty file"),
        (b"  \n", "empty file"),
        (b'{"weights": {"BTCUSDT.BINANCE": NaN}}', "not valid JSON"),  # what Python's json.dumps writes for nan
        (b'{"weights": {"BTCUSDT.BINANCE": Infinity}}', "not valid JSON"),
        (b'{"weights": {"BTCUSDT.BINANCE": 1e999}}', "not valid JSON"),
        (body({BTC: "NaN"}), "expected a finite number"),
        (body({BTC: "inf"}), "expected a finite number"),
        (body({BTC: -0.1}), "negative weight"),
        (body({BTC: 0.7, ETH: 0.4}), "above 1"),
        (body({"SOLUSDT.BINANCE": 0.1}), "unknown instrument"),
        (body({"BTCUSDT.COINBASE": 0.1}), "belongs to venue COINBASE"),
        (body({BTC: True}), "must be a number"),
        (body({BTC: None}), "must be a number"),
        (body({BTC: "half"}), "is not a number"),
        (body([0.5, 0.3]), "expected a JSON object"),
        (body({}), "non-empty object"),
        (body({"weights": {}}), "non-empty object"),
        (body({"weights": [0.5]}), "non-empty object"),
    ],
)
def test_bad_content_is_rejected_with_its_reason(raw, reason):
    with pytest.raises(TargetRejected, match=reason) as exc:
        parse(raw)
    assert str(exc.value).startswith("t.json: ")
    assert "\n" not in str(exc.value)


def test_weights_given_as_percentages_are_refused_with_what_a_weight_is():
    with pytest.raises(TargetRejected) as exc:
        parse(body({BTC: 50, ETH: 30}))
    assert str(exc.value) == ("t.json: weights sum to 80, above 1 (leverage is not allowed; weights are fractions of "
                              "NAV: 0.5 for half, not 50)")


# -- read_targets: what is on disk -------------------------------------------------------------------------------


def test_read_targets_reads_a_file(tmp_path):
    path = tmp_path / "t.json"
    path.write_bytes(body(GOOD))
    assert read_targets(path, KNOWN, "BINANCE").weights[BTC] == Decimal("0.5")


def test_a_50_mb_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "t.json"
    with path.open("wb") as f:
        f.truncate(50 * 1024 * 1024)  # sparse: the size check must come before any read
    with pytest.raises(TargetRejected, match=f"above the {MAX_TARGET_FILE_BYTES} byte limit"):
        read_targets(path, KNOWN, "BINANCE")


def test_a_directory_in_place_of_the_file_is_refused(tmp_path):
    (tmp_path / "t.json").mkdir()
    with pytest.raises(TargetRejected, match="is a directory"):
        read_targets(tmp_path / "t.json", KNOWN, "BINANCE")


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(TargetRejected, match="target file not found"):
        read_targets(tmp_path / "absent.json", KNOWN, "BINANCE")


def test_an_unreadable_path_is_refused(tmp_path):
    # A path through a regular file cannot be read even by root (NotADirectoryError), like a file without permission.
    (tmp_path / "orders").write_bytes(body(GOOD))
    with pytest.raises(TargetRejected, match="cannot read"):
        read_targets(tmp_path / "orders" / "t.json", KNOWN, "BINANCE")


# -- the CLI: --once with a rejected file exits 2 before any order -----------------------------------------------


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "empty file"),
        (body({BTC: -0.5}), "negative weight"),
        (body({BTC: 0.9, ETH: 0.2}), "above 1"),
        (body({"DOGEUSDT.BINANCE": 0.1}), "unknown instrument"),
        (body({"AAPL.NASDAQ": 0.1}), "belongs to venue NASDAQ"),
        (b'{"BTCUSDT.BINANCE": NaN}', "not valid JSON"),
    ],
)
def test_shadow_once_with_a_rejected_file_exits_2_and_sends_nothing(repo_cwd, tmp_path, content, reason):
    targets, drift = tmp_path / "t.json", tmp_path / "drift.log"
    targets.write_bytes(content)
    result = runner.invoke(app, ["shadow", "--venue", "binance", "--feed", "synthetic", "--targets", str(targets),
                                 "--drift-log", str(drift), "--once"])
    assert result.exit_code == 2, result.output
    assert reason in result.stderr
    assert str(targets) in result.stderr
    assert not drift.exists() or drift.stat().st_size == 0


@pytest.mark.parametrize("kind", ["directory", "missing", "50 MB"])
def test_shadow_once_refuses_a_target_path_that_is_not_a_good_file(repo_cwd, tmp_path, kind):
    targets, drift = tmp_path / "t.json", tmp_path / "drift.log"
    if kind == "directory":
        targets.mkdir()
    elif kind == "50 MB":
        with targets.open("wb") as f:
            f.truncate(50 * 1024 * 1024)
    result = runner.invoke(app, ["shadow", "--venue", "binance", "--feed", "synthetic", "--targets", str(targets),
                                 "--drift-log", str(drift), "--once"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "profile binance (profiles/binance.yaml)"  # a session first says which profile it loaded
    assert lines[-1].startswith("error: ") and all(line.startswith("warning: ") for line in lines[1:-1])
    assert not drift.exists()


# -- TargetWeightWatcher on a real directory ---------------------------------------------------------------------


class Recorder:
    """Stands in for the strategy's handler and logger."""

    def __init__(self) -> None:
        self.published: list = []
        self.warnings: list[str] = []
        self.infos: list[str] = []

    def warning(self, message: str) -> None:
        self.warnings.append(message)

    def info(self, message: str) -> None:  # a rejection: the session's display tells it in nautlive's words
        self.infos.append(message)


def replace_atomically(path: Path, content: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)


async def until(predicate, what: str, timeout: float = 5.0) -> None:  # noqa: ANN001
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def test_watcher_applies_good_versions_and_keeps_the_last_good_one_through_every_bad_input(tmp_path):
    path = tmp_path / "orders" / "t.json"  # the watcher creates the folder
    rec = Recorder()
    watcher = TargetWeightWatcher(path, KNOWN, "BINANCE", rec.published.append, rec)
    first, second, third = body(GOOD), body({BTC: 0.2, ETH: 0.6}), body({BTC: 0.1})

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(watcher.run(stop))
        await until(lambda: path.parent.is_dir() and rec.warnings, "the absent-file warning")
        assert "is absent" in rec.warnings[-1] and not rec.published
        replace_atomically(path, first)
        await until(lambda: len(rec.published) == 1, "the first version")

        replace_atomically(path, second)
        await until(lambda: len(rec.published) == 2, "the second version")
        assert rec.published[-1].weights == {BTC: Decimal("0.2"), ETH: Decimal("0.6")}

        replace_atomically(path, second)  # same content again: no second rebalance
        bad = [
            (b"{oops", "not valid JSON"),
            (second[: len(second) // 2], "not valid JSON"),
            (b"", "empty file"),
            (b'{"BTCUSDT.BINANCE": NaN}', "not valid JSON"),
            (body({BTC: "inf"}), "finite"),
            (body({BTC: -1}), "negative weight"),
            (body({BTC: 0.8, ETH: 0.8}), "above 1"),
            (body({"XRPUSDT.BINANCE": 0.1}), "unknown instrument"),
            (body({"BTCUSDT.KRAKEN": 0.1}), "belongs to venue KRAKEN"),
        ]
        for content, reason in bad:
            seen = len(watcher.rejected)
            replace_atomically(path, content)
            await until(lambda r=reason, n=seen: len(watcher.rejected) > n and r in watcher.rejected[-1],
                        f"rejection: {reason}")
            assert "last good target stays in force" in rec.infos[-1]
        with path.open("r+b") as f:  # a 50 MB file written in place
            f.truncate(50 * 1024 * 1024)
        await until(lambda: "byte limit" in watcher.rejected[-1], "rejection of the 50 MB file")

        path.unlink()
        await until(lambda: "is absent" in rec.warnings[-1], "the deletion warning")
        path.mkdir()
        await until(lambda: "is a directory" in watcher.rejected[-1], "rejection of a directory")
        path.rmdir()

        assert len(rec.published) == 2 and watcher.last_good.weights == rec.published[-1].weights
        path.write_bytes(third)  # written in place, not renamed: still seen
        await until(lambda: len(rec.published) == 3, "the third version")
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert [t.weights for t in rec.published] == [
        {BTC: Decimal("0.5"), ETH: Decimal("0.3")},
        {BTC: Decimal("0.2"), ETH: Decimal("0.6")},
        {BTC: Decimal("0.1")},
    ]
    assert len(watcher.rejected) == 11  # the 9 bad contents, the 50 MB file, the directory


def test_watcher_ignores_other_files_in_the_folder(tmp_path):
    path = tmp_path / "t.json"
    path.write_bytes(body(GOOD))
    rec = Recorder()
    watcher = TargetWeightWatcher(path, KNOWN, "BINANCE", rec.published.append, rec)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(watcher.run(stop))
        await until(lambda: len(rec.published) == 1, "the version present at start")
        (tmp_path / "other.json").write_bytes(b"{not json")
        (tmp_path / "t.json.tmp").write_bytes(b"{half")
        await asyncio.sleep(0.2)
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert len(rec.published) == 1 and watcher.rejected == []


def test_a_storm_of_versions_is_read_once_at_its_last_version_after_the_file_settles(tmp_path):
    path = tmp_path / "t.json"
    path.write_bytes(body(GOOD))
    rec = Recorder()
    watcher = TargetWeightWatcher(path, KNOWN, "BINANCE", rec.published.append, rec, settle_ms=150)
    final = {BTC: 0.35, ETH: 0.45}

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(watcher.run(stop))
        await asyncio.sleep(0.05)
        assert rec.published == [] and watcher.settling is False  # written just before: it settles first
        await until(lambda: len(rec.published) == 1, "the version present at start")
        for k in range(40):  # 40 versions, 10 ms apart, some of them caught half-written
            if k % 7 == 3:
                path.write_bytes(body({BTC: 0.1 + 0.005 * k})[:9])
            else:
                replace_atomically(path, body({BTC: 0.1 + 0.005 * k, ETH: 0.5}))
            await asyncio.sleep(0.01)
            assert len(rec.published) == 1 and (k == 0 or watcher.settling)
        replace_atomically(path, body(final))
        await until(lambda: len(rec.published) == 2, "the final version", timeout=3)
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert [t.weights for t in rec.published] == [{BTC: Decimal("0.5"), ETH: Decimal("0.3")},
                                                   {BTC: Decimal("0.35"), ETH: Decimal("0.45")}]
    assert watcher.rejected == []  # the half-written versions were never read
    assert 20 <= watcher.superseded <= 40 and not watcher.settling


def test_settle_ms_0_reads_each_version_at_once(tmp_path):
    path = tmp_path / "t.json"
    rec = Recorder()
    watcher = TargetWeightWatcher(path, KNOWN, "BINANCE", rec.published.append, rec, settle_ms=0)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(watcher.run(stop))
        await asyncio.sleep(0.05)
        for k in range(3):
            replace_atomically(path, body({BTC: 0.1 * (k + 1)}))
            await until(lambda n=k: len(rec.published) == n + 1, f"version {k}", timeout=2)
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert watcher.superseded == 0


def test_a_file_stamped_in_the_future_is_read_after_one_settle_time(tmp_path):
    path = tmp_path / "t.json"
    path.write_bytes(body(GOOD))
    future = time.time() + 3600  # copied with its mtime from a machine an hour ahead
    os.utime(path, (future, future))
    rec = Recorder()
    watcher = TargetWeightWatcher(path, KNOWN, "BINANCE", rec.published.append, rec, settle_ms=100)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(watcher.run(stop))
        await until(lambda: len(rec.published) == 1, "the version present at start", timeout=2)
        replace_atomically(path, body({BTC: 0.2}))
        os.utime(path, (future, future))
        await until(lambda: len(rec.published) == 2, "the next version", timeout=2)
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
