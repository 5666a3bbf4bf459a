import json
import socket
import subprocess
import sys
import threading
import time
from decimal import Decimal

import msgspec
import pytest

from nautlive.catalog.specs import load_catalog, spec_from_instrument
from nautlive.config.profile import load_profile
from nautlive.errors import ConfigError, RuntimeFailure
from nautlive.venues import ibkr

from .conftest import REPO, shared_file

CAPTURES = "ibkr", "contract_details"


def capture(name: str) -> tuple:
    path = shared_file(*CAPTURES, f"{name}.decoded.json")
    return path, json.loads(path.read_text())


def kit_details(name: str) -> dict:
    """A test-kit contract details fixture with its `$ref` contract resolved."""
    kit = json.loads(shared_file("ibkr", "test_kit_contract_fixtures.json").read_text())
    details = dict(kit[f"{name}_details"])
    ref = details["contract"]["$ref"]
    details["contract"] = kit[ref.rsplit(".", 1)[-1].removesuffix("()")]
    return details


def decimals(number: float) -> int:
    return -Decimal(str(number)).as_tuple().exponent


# --- contract details -> InstrumentSpec, on the real captures --------------------------------------------------


def test_aapl_stock_maps_to_primary_exchange_venue_and_whole_shares():
    path, raw = capture("contracts_pkl_2022__AAPL")
    contract = raw["contract"]
    spec = ibkr.specs_from_contract_details_file(path).specs[f"{contract['localSymbol']}.{contract['primaryExchange']}"]
    assert spec.instrument_id == "AAPL.NASDAQ"
    assert spec.tick_size == Decimal(str(raw["minTick"]))
    assert spec.price_precision == decimals(raw["minTick"]) == 2
    assert "sizeIncrement" not in raw and "minSize" not in raw  # absent in this capture: whole shares
    assert (spec.step_size, spec.min_qty, spec.size_precision) == (1, 1, 0)
    assert (spec.base, spec.quote, spec.exchange, spec.status) == (None, contract["currency"], "NASDAQ", "TRADING")


def test_eurusd_maps_to_currency_pair_with_base():
    path, raw = capture("contracts_pkl_2022__EURUSD")
    contract = raw["contract"]
    specs = ibkr.specs_from_contract_details_file(path)
    spec = specs.specs[f"{contract['symbol']}/{contract['currency']}.{contract['exchange']}"]
    assert spec.instrument_id == "EUR/USD.IDEALPRO"
    assert spec.tick_size == Decimal(str(raw["minTick"])) == Decimal("0.00005")
    assert spec.price_precision == decimals(raw["minTick"]) == 5
    assert (spec.base, spec.quote, spec.exchange) == (contract["symbol"], contract["currency"], "IDEALPRO")
    assert specs.venue == "INTERACTIVE_BROKERS" and specs.unreadable == {}


def test_clz2_future_keeps_its_local_symbol_at_its_exchange():
    path, raw = capture("contracts_pkl_2022__CLZ2")
    contract = raw["contract"]
    spec = ibkr.specs_from_contract_details_file(path).specs[f"{contract['localSymbol']}.{contract['exchange']}"]
    assert spec.instrument_id == "CLZ2.NYMEX"
    assert spec.tick_size == Decimal(str(raw["minTick"]))
    assert (spec.step_size, spec.min_qty, spec.quote, spec.base) == (1, 1, contract["currency"], None)


def test_2021_aapl_details_agree_with_2022_capture():
    old = ibkr.specs_from_contract_details_file(capture("ib_responses_pickle_2021__contract_details_aapl_details")[0])
    new = ibkr.specs_from_contract_details_file(capture("contracts_pkl_2022__AAPL")[0])
    assert old.specs == new.specs


def test_reported_size_rules_are_used_and_fractional_shares_need_opt_in():
    kit = kit_details("aapl_equity_contract")
    assert ibkr.spec_from_contract_details(kit).step_size == Decimal(str(kit["sizeIncrement"]))
    fractional = {**kit, "sizeIncrement": 0.0001, "minSize": "0.0001"}
    whole = ibkr.spec_from_contract_details(fractional)
    assert (whole.step_size, whole.min_qty) == (1, 1)
    allowed = ibkr.spec_from_contract_details(fractional, fractional=True)
    assert (allowed.step_size, allowed.min_qty, allowed.size_precision) == (Decimal("0.0001"), Decimal("0.0001"), 4)


def test_a_list_file_maps_each_record_and_reports_unsupported_types(tmp_path):
    records = [capture(name)[1] for name in ("contracts_pkl_2022__AAPL", "contracts_pkl_2022__AAPL211217C00160000")]
    records.append(kit_details("eurusd_forex_contract"))
    path = tmp_path / "details.json"
    path.write_text(json.dumps(records))
    specs = ibkr.specs_from_contract_details_file(path)
    assert sorted(specs.specs) == ["AAPL.NASDAQ", "EUR/USD.IDEALPRO"]
    assert specs.unreadable == {
        "AAPL  211217C00160000": "contract.secType: OPT not supported (expected one of STK, CASH, FUT)"
    }


# --- our specs against Nautilus's own IB parsing -------------------------------------------------------------


def nautilus_instrument(raw: dict):
    """parse_instrument on an IBContractDetails built from captured JSON, venue chosen as Nautilus's provider does."""
    pytest.importorskip("ibapi", reason="needs nautilus_trader[ib]")
    from nautilus_trader.adapters.interactive_brokers.common import IBContract, IBContractDetails, TagValue
    from nautilus_trader.adapters.interactive_brokers.parsing.instruments import parse_instrument

    fields = {k: v for k, v in raw.items() if k in IBContractDetails.__struct_fields__}
    contract = IBContract(**{k: v for k, v in raw["contract"].items() if k in IBContract.__struct_fields__})
    tags = [t["_args"] for t in raw.get("secIdList") or [] if "_args" in t]
    fields["secIdList"] = [TagValue(tag, value) for tag, value in tags] or None
    details = IBContractDetails(**{**fields, "contract": contract})
    venue = contract.primaryExchange if contract.exchange == "SMART" else contract.exchange
    return parse_instrument(details, venue)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(lambda: capture("contracts_pkl_2022__AAPL")[1], id="AAPL"),
        pytest.param(lambda: capture("contracts_pkl_2022__CLZ2")[1], id="CLZ2"),
        # the 2022 FX captures lack minSize, which Nautilus's FX parser needs: use the test-kit EUR.USD
        pytest.param(lambda: kit_details("eurusd_forex_contract"), id="EURUSD"),
    ],
)
def test_spec_matches_nautilus_parsed_instrument(raw):
    raw = raw()
    ours = ibkr.spec_from_contract_details(raw)
    theirs = spec_from_instrument(nautilus_instrument(raw))
    fields = ("instrument_id", "tick_size", "step_size", "price_precision", "size_precision", "base", "quote")
    assert {f: getattr(ours, f) for f in fields} == {f: getattr(theirs, f) for f in fields}


# --- broken inputs -------------------------------------------------------------------------------------------


def test_bare_contract_and_ticker_captures_are_config_errors_naming_the_key():
    with pytest.raises(ConfigError, match=r"aapl_contract\.decoded\.json: contract: missing"):
        ibkr.specs_from_contract_details_file(capture("ib_responses_pickle_2021__contract_details_aapl_contract")[0])
    with pytest.raises(ConfigError, match=r"eurusd_ticker\.decoded\.json: \[0\]: minTick: missing"):
        ibkr.specs_from_contract_details_file(capture("streaming__eurusd_ticker")[0])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "not JSON"),
        ('{"contract": {"secType": "STK"}, "minTick": 0.01}', "contract.currency: missing"),
        (
            '{"contract": {"secType": "STK", "symbol": "X", "currency": "USD", "exchange": "SMART"}, "minTick": 0.01}',
            "contract.primaryExchange: empty for a SMART-routed STK",
        ),
        ('{"contract": {"secType": "CASH"}, "minTick": "abc"}', "minTick: expected a positive number, got 'abc'"),
        ('{"contract": {"secType": "CASH"}, "minTick": 0}', "minTick: expected a positive number, got 0"),
        ('{"contract": {"secType": "CASH"}, "minTick": 1, "minSize": true}', "minSize: expected a positive number"),
        (
            '{"contract": {"secType": "FUT", "localSymbol": "CL DEC 22", "exchange": "NYMEX", "currency": "USD"},'
            ' "minTick": 0.01}',
            "contract.localSymbol: expected a futures symbol like CLZ2",
        ),
        ("[1]", r"\[0\]: expected a contract details object, got int"),
    ],
)
def test_malformed_file_is_one_line_config_error(tmp_path, body, message):
    path = tmp_path / "bad.json"
    path.write_text(body)
    with pytest.raises(ConfigError, match=message) as info:
        ibkr.specs_from_contract_details_file(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)
    assert info.value.exit_code == 2


def test_missing_file_and_directory_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="contract details file not found"):
        ibkr.specs_from_contract_details_file(tmp_path / "absent.json")
    with pytest.raises(ConfigError, match="is a directory"):
        ibkr.specs_from_contract_details_file(tmp_path)


# --- Nautilus client configs from the profiles ---------------------------------------------------------------


@pytest.fixture
def ib_config():
    return pytest.importorskip(
        "nautilus_trader.adapters.interactive_brokers.config", reason="needs nautilus_trader[ib]"
    )


@pytest.mark.parametrize(("name", "port"), [("ibkr-paper", 4002), ("ibkr-live", 4001)])
def test_configs_from_profiles(ib_config, monkeypatch, name, port):
    from nautilus_trader.model.identifiers import InstrumentId

    monkeypatch.setenv("TWS_ACCOUNT", "DU1234567")
    profile = load_profile(profile=REPO / "profiles" / f"{name}.yaml")
    data = ibkr.data_client_config(profile)
    exec_ = ibkr.exec_client_config(profile)
    assert isinstance(data, ib_config.InteractiveBrokersDataClientConfig)
    assert isinstance(exec_, ib_config.InteractiveBrokersExecClientConfig)
    for config in (data, exec_):
        assert (config.ibg_host, config.ibg_port, config.ibg_client_id) == ("127.0.0.1", port, 1)
        assert config.connection_timeout == 15
        provider = config.instrument_provider
        assert provider.load_ids == frozenset(InstrumentId.from_str(i) for i in ("AAPL.NASDAQ", "SPY.ARCA"))
        assert provider.symbology_method == ib_config.SymbologyMethod.IB_SIMPLIFIED
    assert exec_.account_id == "DU1234567"
    assert exec_.routing.default is True
    assert data.market_data_type == ib_config.IBMarketDataTypeEnum.REALTIME
    assert ibkr.data_client_config(profile, "DELAYED_FROZEN").market_data_type == 4


def test_account_falls_back_to_env_at_build_time(ib_config, monkeypatch):
    monkeypatch.delenv("TWS_ACCOUNT", raising=False)
    profile = load_profile(profile=REPO / "profiles" / "ibkr-paper.yaml")
    monkeypatch.setenv("TWS_ACCOUNT", "DU7654321")
    assert ibkr.exec_client_config(profile).account_id == "DU7654321"


def test_missing_account_is_config_error(ib_config, monkeypatch):
    monkeypatch.delenv("TWS_ACCOUNT", raising=False)
    profile = load_profile(profile=REPO / "profiles" / "ibkr-paper.yaml")
    assert ibkr.data_client_config(profile).ibg_port == 4002  # market data needs no account
    with pytest.raises(ConfigError, match=r"ibkr\.account_id: not set \(export TWS_ACCOUNT\)"):
        ibkr.exec_client_config(profile)


def test_bad_profile_for_ib_is_config_error(ib_config, monkeypatch):
    monkeypatch.setenv("TWS_ACCOUNT", "DU1234567")
    profile = load_profile(profile=REPO / "profiles" / "ibkr-paper.yaml")
    with pytest.raises(ConfigError, match=r"instruments\[1\]: 'SPY' is not SYMBOL\.EXCHANGE"):
        ibkr.exec_client_config(msgspec.structs.replace(profile, instruments=["AAPL.NASDAQ", "SPY"]))
    with pytest.raises(ConfigError, match="adapter: binance, expected ibkr"):
        ibkr.data_client_config(load_profile(profile=REPO / "profiles" / "binance.yaml"))


# --- gateway reachability ------------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_refused_connection_says_refused_not_a_timeout():
    port = closed_port()
    started = time.monotonic()
    with pytest.raises(RuntimeFailure) as caught:
        ibkr.check_gateway_reachable("127.0.0.1", port, 2.0)
    assert str(caught.value) == (f"IB Gateway not reachable at 127.0.0.1:{port}: connection refused "
                                 "(is IB Gateway running, with the API enabled on this port?)")
    assert time.monotonic() - started < 2.5  # a bound, not a benchmark


def test_a_gateway_that_never_answers_says_no_answer_after_the_timeout():
    # A listener whose accept queue is full (backlog 0, one connection already waiting) drops further SYNs: the
    # connect times out, as with a firewall that drops packets, without leaving loopback.
    with socket.socket() as server, socket.socket() as waiting:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        waiting.connect(("127.0.0.1", port))
        started = time.monotonic()
        with pytest.raises(RuntimeFailure) as caught:
            ibkr.check_gateway_reachable("127.0.0.1", port, 0.5)
        elapsed = time.monotonic() - started
    assert str(caught.value).startswith(f"IB Gateway not reachable at 127.0.0.1:{port}: no answer after 0.5 s (")
    assert "refused" not in str(caught.value)
    assert 0.4 < elapsed < 2.0


def test_listening_gateway_port_passes():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        ibkr.check_gateway_reachable("127.0.0.1", server.getsockname()[1], 2.0)


def test_fetch_specs_without_gateway_is_runtime_failure(monkeypatch):
    monkeypatch.setenv("TWS_ACCOUNT", "DU1234567")
    profile = load_profile(profile=REPO / "profiles" / "ibkr-paper.yaml")
    profile = msgspec.structs.replace(profile, ibkr=msgspec.structs.replace(profile.ibkr, port=closed_port()))
    with pytest.raises(RuntimeFailure, match="IB Gateway not reachable"):
        ibkr.fetch_specs(profile)


# --- the ibkr catalog ----------------------------------------------------------------------------------------


def test_write_catalog_has_aapl_from_capture_and_spy_from_known_facts(tmp_path):
    path, raw = capture("contracts_pkl_2022__AAPL")
    ibkr.write_catalog(path, tmp_path / "ibkr.yaml")
    catalog = load_catalog(tmp_path / "ibkr.yaml")
    assert catalog.venue == "INTERACTIVE_BROKERS"
    aapl, spy = catalog.instruments
    assert (aapl.instrument_id, aapl.tick_size) == ("AAPL.NASDAQ", Decimal(str(raw["minTick"])))
    assert spy.instrument_id == "SPY.ARCA"
    assert (spy.tick_size, spy.step_size, spy.min_qty, spy.quote, spy.exchange) == (
        Decimal("0.01"),
        1,
        1,
        "USD",
        "ARCA",
    )


def test_committed_catalog_is_what_the_script_writes(tmp_path):
    path, _ = capture("contracts_pkl_2022__AAPL")
    ibkr.write_catalog(path, tmp_path / "ibkr.yaml")
    assert load_catalog(REPO / "artifacts" / "catalog" / "ibkr.yaml") == load_catalog(tmp_path / "ibkr.yaml")


@pytest.mark.slow
def test_module_script_writes_catalog_and_reports_bad_capture(tmp_path):
    path, _ = capture("contracts_pkl_2022__AAPL")
    out = tmp_path / "ibkr.yaml"
    run = subprocess.run(
        [sys.executable, "-m", "nautlive.venues.ibkr", str(path), str(out)], capture_output=True, text=True
    )
    assert run.returncode == 0 and "AAPL.NASDAQ, SPY.ARCA" in run.stdout
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    run = subprocess.run(
        [sys.executable, "-m", "nautlive.venues.ibkr", str(bad), str(out)], capture_output=True, text=True
    )
    assert run.returncode == 2
    assert run.stderr.startswith(f"error: {bad}: not JSON") and run.stderr.count("\n") == 1


@pytest.mark.slow
def test_fetch_specs_from_a_silent_gateway_gives_up_at_its_deadline(monkeypatch):
    """A socket that accepts but never completes IB's handshake (wrong service, API disabled) ends in one line."""
    monkeypatch.setenv("TWS_ACCOUNT", "DU1234567")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        profile = load_profile(profile=REPO / "profiles" / "ibkr-paper.yaml")
        profile = msgspec.structs.replace(
            profile,
            ibkr=msgspec.structs.replace(profile.ibkr, port=server.getsockname()[1]),
            live=msgspec.structs.replace(profile.live, connect_timeout=0.5),
        )
        with pytest.raises(
            RuntimeFailure, match=r"no contract details within 2 s \(API enabled\? client id 101 free\?\)"
        ):
            ibkr.fetch_specs(profile)


# --- the gateway check before any node: handshake answered, account managed -----------------------------------


@pytest.fixture(params=[223, 176], ids=lambda version: f"gateway-{version}")
def tws_sim(request):
    from nautlive.sim.tws import build_tws_simulator
    from nautlive.sim.tws.server import start_in_thread

    sim = build_tws_simulator(["AAPL.NASDAQ", "SPY.ARCA"], REPO / "artifacts" / "catalog" / "ibkr.yaml", contracts=[],
                              server_version=request.param)
    with start_in_thread(sim) as running:
        yield running


def sim_profile(monkeypatch, port: int, account: str, timeout: float = 2):
    monkeypatch.setenv("NAUTLIVE_IB_PORT", str(port))
    monkeypatch.setenv("NAUTLIVE_IB_ACCOUNT", account)
    profile = load_profile(profile=REPO / "profiles" / "ibkr-sim.yaml")
    return msgspec.structs.replace(profile, live=msgspec.structs.replace(profile.live, connect_timeout=timeout))


def test_gateway_check_returns_the_managed_accounts(tws_sim, monkeypatch):
    assert ibkr.check_gateway(sim_profile(monkeypatch, tws_sim.port, "DU123456")) == ["DU123456"]
    [probe] = tws_sim.sim.connections  # through ibapi's EClient, at the gateway's version (protobuf from 201 on)
    assert (probe["client_id"], probe["version"]) == (201, tws_sim.sim.server_version)
    [start] = [r for r in tws_sim.sim.requests if r["name"] == "startApi"]
    assert start["protobuf"] == (tws_sim.sim.server_version >= 213)  # MIN_SERVER_VER_PROTOBUF_REST_MESSAGES_3


def test_gateway_check_names_a_gateway_that_hangs_up(monkeypatch):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        def hang_up() -> None:  # the reachability check, then the probe: each accepted and closed at once
            for _ in range(2):
                server.accept()[0].close()

        threading.Thread(target=hang_up, daemon=True).start()
        with pytest.raises(RuntimeFailure, match="connection lost during the API handshake"):
            ibkr.check_gateway(sim_profile(monkeypatch, server.getsockname()[1], "DU123456"))


def test_gateway_check_refuses_an_account_the_gateway_does_not_manage(tws_sim, monkeypatch):
    with pytest.raises(ConfigError, match="manages DU123456, not DU000001 .*ibkr.account_id"):
        ibkr.check_gateway(sim_profile(monkeypatch, tws_sim.port, "DU000001"))


def test_gateway_check_gives_up_on_a_silent_handshake(tws_sim, monkeypatch):
    tws_sim.call(tws_sim.sim.stall, None)
    started = time.monotonic()
    with pytest.raises(RuntimeFailure, match="no answer to the API handshake within 1 s"):
        ibkr.check_gateway(sim_profile(monkeypatch, tws_sim.port, "DU123456", timeout=1))
    assert time.monotonic() - started < 3
