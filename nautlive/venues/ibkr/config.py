"""IB's section of a profile and the Nautilus client configs built from it."""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

import msgspec

from nautlive.errors import ConfigError

if TYPE_CHECKING:
    from nautlive.config.profile import VenueProfile


class IbkrSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    host: str = "127.0.0.1"
    port: int = 4002
    client_id: int = 1
    account_id: str | None = None


def ibkr_settings(profile: VenueProfile) -> IbkrSettings:
    if profile.adapter != "ibkr":
        raise ConfigError(f"profile {profile.name}: adapter: {profile.adapter}, expected ibkr")
    return profile.ibkr or IbkrSettings()


def instrument_provider_config(profile: VenueProfile):
    """Load only the profile's instruments, named with IB_SIMPLIFIED symbology (AAPL.NASDAQ)."""
    from nautilus_trader.adapters.interactive_brokers.config import (
        InteractiveBrokersInstrumentProviderConfig,
        SymbologyMethod,
    )
    from nautilus_trader.model.identifiers import InstrumentId

    ids = []
    for index, text in enumerate(profile.instruments):
        try:
            ids.append(InstrumentId.from_str(text))
        except ValueError:
            raise ConfigError(
                f"profile {profile.name}: instruments[{index}]: {text!r} is not SYMBOL.EXCHANGE (e.g. AAPL.NASDAQ)"
            ) from None
    return InteractiveBrokersInstrumentProviderConfig(
        load_ids=frozenset(ids), symbology_method=SymbologyMethod.IB_SIMPLIFIED
    )


def data_client_config(profile: VenueProfile, market_data_type: str = "REALTIME"):
    """InteractiveBrokersDataClientConfig; pass market_data_type="DELAYED_FROZEN" for accounts without data."""
    config_module = _ib_config_module()
    ib = ibkr_settings(profile)
    return config_module.InteractiveBrokersDataClientConfig(
        ibg_host=ib.host,
        ibg_port=ib.port,
        ibg_client_id=ib.client_id,
        market_data_type=getattr(config_module.IBMarketDataTypeEnum, market_data_type),
        connection_timeout=_connection_timeout(profile),
        instrument_provider=instrument_provider_config(profile),
    )


def exec_client_config(profile: VenueProfile):
    """InteractiveBrokersExecClientConfig that is the default route (instrument venues are exchanges, not IB)."""
    from nautilus_trader.live.config import RoutingConfig

    config_module = _ib_config_module()
    ib = ibkr_settings(profile)
    return config_module.InteractiveBrokersExecClientConfig(
        ibg_host=ib.host,
        ibg_port=ib.port,
        ibg_client_id=ib.client_id,
        account_id=account_id(profile),
        connection_timeout=_connection_timeout(profile),
        instrument_provider=instrument_provider_config(profile),
        routing=RoutingConfig(default=True),
    )


def account_id(profile: VenueProfile) -> str:
    account = ibkr_settings(profile).account_id or os.environ.get("TWS_ACCOUNT")
    if not account:
        raise ConfigError(f"profile {profile.name}: ibkr.account_id: not set (export TWS_ACCOUNT)")
    return account


def _connection_timeout(profile: VenueProfile) -> int:
    return math.ceil(profile.live.connect_timeout)


def _ib_config_module():
    try:
        from nautilus_trader.adapters.interactive_brokers import config
    except ImportError:
        raise ConfigError(
            "Interactive Brokers needs nautlive's ib extra: pipx install 'nautlive[ib]' "
            "(or pip install 'nautlive[ib]' in a virtualenv)"
        ) from None
    return config


