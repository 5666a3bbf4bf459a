"""`adopt: relaxed`: the venue's relaxations written into the catalog atomically, the previous file kept as .bak, a
blocking change never adopted, and two adopters at once taking turns (a lock file beside the catalog)."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
import time
from decimal import Decimal

import pytest
import yaml
from typer.testing import CliRunner

from nautlive.catalog import adopt as adopt_module
from nautlive.catalog.adopt import adopt_relaxed, backup_path
from nautlive.catalog.specs import InstrumentSpec, load_catalog, spec_to_instrument
from nautlive.cli.app import app
from nautlive.errors import ConfigError, SafetyRefusal
from tests import exchange_info_2026 as info26
from tests.conftest import REPO, shared_file

runner = CliRunner()
D = Decimal
SHIPPED = REPO / "artifacts" / "catalog" / "binance.yaml"


@pytest.fixture
def catalog(tmp_path):
    shared_file("binance", "exchange_info", "binance_spot_exchange_info_2023-09-08.json")  # skip without the data
    path = tmp_path / "catalog" / "binance.yaml"
    path.parent.mkdir()
    path.write_bytes(SHIPPED.read_bytes())
    return path


def venue(**by_symbol: dict) -> dict[str, InstrumentSpec]:
    """The shipped catalog's records as the venue, with some fields changed per symbol."""
    specs = {s.symbol: s for s in load_catalog(SHIPPED).instruments}
    for symbol, changes in by_symbol.items():
        specs[symbol] = InstrumentSpec(**{**_fields(specs[symbol]), **changes})
    return specs


def _fields(spec: InstrumentSpec) -> dict:
    return {f: getattr(spec, f) for f in spec.__struct_fields__}


def leftovers(path) -> list[str]:  # noqa: ANN001
    return sorted(p.name for p in path.parent.iterdir() if p.name.endswith(".tmp"))


def test_relaxed_values_are_written_atomically_and_the_previous_file_kept(catalog):
    before, inode = catalog.read_bytes(), catalog.stat().st_ino
    updated, taken = adopt_relaxed(catalog, venue(BTCUSDT={"market_max_qty": D("180.64469744")},
                                                  ETHUSDT={"min_notional": D("1"), "max_notional": None}))
    assert [(m.instrument, m.field, m.catalog, m.venue) for m in taken] == [
        ("BTCUSDT.BINANCE", "market_max_qty", "168.82682004", "180.64469744"),
        ("ETHUSDT.BINANCE", "min_notional", "5", "1")]
    on_disk = load_catalog(catalog)
    assert on_disk == updated
    assert on_disk.get("BTCUSDT.BINANCE").market_max_qty == D("180.64469744")
    assert on_disk.get("ETHUSDT.BINANCE").min_notional == D("1")
    assert backup_path(catalog).read_bytes() == before
    assert catalog.stat().st_ino != inode  # renamed into place, never rewritten in place
    assert leftovers(catalog) == []
    assert adopt_relaxed(catalog, venue(BTCUSDT={"market_max_qty": D("180.64469744")},
                                        ETHUSDT={"min_notional": D("1")}))[1] == []  # nothing left to adopt


def test_a_blocking_change_is_never_adopted(catalog):
    before = catalog.read_bytes()
    _, taken = adopt_relaxed(catalog, venue(BTCUSDT={"min_notional": D("10"), "market_max_qty": D("180.64469744"),
                                                     "status": "HALT"},
                                            ETHUSDT={"step_size": D("0.001"), "quote": "FDUSD"}))
    assert [(m.instrument, m.field) for m in taken] == [("BTCUSDT.BINANCE", "market_max_qty")]
    btc = load_catalog(catalog).get("BTCUSDT.BINANCE")
    assert (btc.min_notional, btc.status) == (D("5"), "TRADING")
    assert load_catalog(catalog).get("ETHUSDT.BINANCE") == load_catalog(SHIPPED).get("ETHUSDT.BINANCE")
    assert backup_path(catalog).read_bytes() == before


def test_nothing_relaxed_leaves_the_file_alone(catalog):
    inode = catalog.stat().st_ino
    assert adopt_relaxed(catalog, venue(BTCUSDT={"min_notional": D("10")}))[1] == []
    assert catalog.stat().st_ino == inode and not backup_path(catalog).exists()


def test_a_field_the_profile_raised_or_lowered_is_not_adopted(catalog):
    changed = venue(BTCUSDT={"market_max_qty": D("180.64469744"), "min_notional": D("10")})
    _, taken = adopt_relaxed(catalog, changed, {"market_max_qty": "WARNING", "min_notional": "INFO"})
    assert taken == []


def test_a_finer_step_brings_its_precision_along(catalog):
    _, taken = adopt_relaxed(catalog, venue(BTCUSDT={"step_size": D("0.000001"), "size_precision": 6,
                                                     "tick_size": D("0.001"), "price_precision": 3}))
    assert [(m.field, m.venue) for m in taken] == [("step_size", "0.000001"), ("tick_size", "0.001"),
                                                   ("size_precision", "6"), ("price_precision", "3")]
    instrument = spec_to_instrument(load_catalog(catalog).get("BTCUSDT.BINANCE"))
    assert (str(instrument.size_increment), instrument.size_precision) == ("0.000001", 6)


def test_a_failed_write_changes_nothing(catalog, monkeypatch):
    before = catalog.read_bytes()

    def broken_replace(src, dst):  # noqa: ANN001
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(ConfigError, match="cannot write the adopted catalog: No space left on device: nothing adopted"):
        adopt_relaxed(catalog, venue(BTCUSDT={"market_max_qty": D("180.64469744")}))
    assert catalog.read_bytes() == before and leftovers(catalog) == []


def test_a_lock_held_too_long_is_exit_4_and_nothing_adopted(catalog):
    before = catalog.read_bytes()
    with open(catalog.with_name(catalog.name + ".lock"), "a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        with pytest.raises(SafetyRefusal, match="another session has been adopting into this catalog for 0.2 s"):
            adopt_relaxed(catalog, venue(BTCUSDT={"market_max_qty": D("180.64469744")}), timeout=0.2)
    assert catalog.read_bytes() == before


def test_two_adopters_at_once_take_turns_and_lose_nothing(catalog, monkeypatch):
    """Each reads the catalog under the lock: without it the slower one would write back what it read before the
    other's change (a lost update). Writing is slowed down here to make that window wide."""
    real_save = adopt_module.save_catalog

    def slow_save(*args):  # noqa: ANN002
        time.sleep(0.3)
        real_save(*args)

    monkeypatch.setattr(adopt_module, "save_catalog", slow_save)
    views = [venue(BTCUSDT={"market_max_qty": D("180.64469744")}), venue(ETHUSDT={"max_qty": D("90000")})]
    errors: list[BaseException] = []

    def run(view) -> None:  # noqa: ANN001
        try:
            adopt_relaxed(catalog, view)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(view,)) for view in views]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    final = load_catalog(catalog)
    assert final.get("BTCUSDT.BINANCE").market_max_qty == D("180.64469744")
    assert final.get("ETHUSDT.BINANCE").max_qty == D("90000")
    assert len(load_catalog(backup_path(catalog)).instruments) == 2 and leftovers(catalog) == []


def test_two_reconcile_commands_adopting_at_once(catalog, tmp_path):
    """Two processes: one adopts, the other finds the catalog already following the venue; the file stays whole."""
    capture = info26.capture(tmp_path / "info-2026.json", info26.MARKET_MAX_UP)
    command = [sys.executable, "-m", "nautlive", "reconcile", "--venue", "binance", "--from-file", str(capture),
               "--catalog", str(catalog), "--adopt", "relaxed"]
    procs = [subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [proc.communicate(timeout=60) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    adopted = [line for _, err in outputs for line in err.splitlines() if line.startswith("adopted ")]
    assert adopted == [f"adopted BTCUSDT.BINANCE market_max_qty: 168.82682004 -> 180.64469744 into {catalog}"]
    assert load_catalog(catalog).get("BTCUSDT.BINANCE").market_max_qty == D("180.64469744")
    assert backup_path(catalog).read_bytes() == SHIPPED.read_bytes()


# -- the command and the profile ----------------------------------------------------------------------------------


def test_reconcile_adopt_relaxed_command(repo_cwd, catalog, tmp_path):
    capture = info26.capture(tmp_path / "info-2026.json", info26.MARKET_MAX_UP)
    args = ["reconcile", "--venue", "binance", "--from-file", str(capture), "--catalog", str(catalog)]
    result = runner.invoke(app, [*args, "--adopt", "relaxed"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-2:] == [
        "BTCUSDT.BINANCE\tmarket_max_qty\t168.82682004\t180.64469744\tINFO",
        f"2 instruments checked: 0 blocking, 0 warnings, 1 info; 1 field(s) adopted into {catalog} (previous kept "
        f"as {catalog}.bak)"]
    assert result.stderr == f"adopted BTCUSDT.BINANCE market_max_qty: 168.82682004 -> 180.64469744 into {catalog}\n"
    again = runner.invoke(app, [*args, "--json"])
    assert again.exit_code == 0 and json.loads(again.stdout) == {
        "venue": "BINANCE", "checked": 2, "mismatches": [], "blocking": 0, "warnings": 0, "info": 0, "adopted": []}


def test_reconcile_adopt_with_a_blocking_row_adopts_the_rest_and_exits_3(repo_cwd, catalog, tmp_path):
    capture = info26.capture(tmp_path / "info-2026.json", {**info26.MARKET_MAX_UP, **info26.MIN_NOTIONAL_DOUBLED})
    result = runner.invoke(app, ["reconcile", "--venue", "binance", "--from-file", str(capture), "--catalog",
                                 str(catalog), "--adopt", "relaxed", "--json"])
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    assert [(m["field"], m["severity"]) for m in report["mismatches"]] == [("min_notional", "BLOCKING"),
                                                                         ("market_max_qty", "INFO")]
    assert [m["field"] for m in report["adopted"]] == ["market_max_qty"]
    assert load_catalog(catalog).get("BTCUSDT.BINANCE").min_notional == D("5")


def test_the_profile_adopt_setting_and_adopt_none(repo_cwd, catalog, tmp_path):
    capture = info26.capture(tmp_path / "info-2026.json", info26.MARKET_MAX_UP)
    profile = yaml.safe_load((REPO / "profiles" / "binance.yaml").read_text())
    profile.update(catalog=str(catalog), reconcile={"adopt": "relaxed"})
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(profile))
    args = ["reconcile", "--profile", str(tmp_path / "p.yaml"), "--from-file", str(capture)]
    checked = runner.invoke(app, [*args, "--adopt", "none"])
    assert checked.exit_code == 0 and checked.stderr == "" and not backup_path(catalog).exists()
    adopted = runner.invoke(app, args)
    assert adopted.exit_code == 0 and adopted.stderr.startswith("adopted BTCUSDT.BINANCE market_max_qty")


@pytest.mark.parametrize(("reconcile", "message"), [
    ({"adopt": "everything"}, "reconcile.adopt: expected one of relaxed, got 'everything'"),
    ({"severity": {"min_notinal": "INFO"}}, "reconcile.severity.min_notinal: not a field reconcile compares"),
    ({"severity": {"min_notional": "IGNORE"}}, "reconcile.severity"),
])
def test_broken_reconcile_settings_exit_2(repo_cwd, tmp_path, reconcile, message):
    profile = yaml.safe_load((REPO / "profiles" / "binance.yaml").read_text())
    profile["reconcile"] = reconcile
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(profile))
    result = runner.invoke(app, ["reconcile", "--profile", str(tmp_path / "p.yaml"), "--from-file", "nope.json"])
    assert result.exit_code == 2 and message in result.stderr and result.stderr.count("\n") == 1, result.stderr


def test_bad_adopt_option_exits_2(repo_cwd):
    result = runner.invoke(app, ["reconcile", "--venue", "binance", "--adopt", "all"])
    assert result.exit_code == 2 and "--adopt" in result.output
