"""Interactive Brokers through IB Gateway/TWS: contract details -> InstrumentSpec, the profile's `ibkr:` section and
Nautilus's IB clients, the gateway probe, the account's open orders at start and fill recovery (`IbkrVenue`)."""

from nautlive.venues.ibkr.config import (
    IbkrSettings,
    account_id,
    data_client_config,
    exec_client_config,
    ibkr_settings,
    instrument_provider_config,
)
from nautlive.venues.ibkr.contracts import (
    VENUE,
    UnsupportedContract,
    fetch_specs,
    spec_from_contract_details,
    specs_from_contract_details_file,
    write_catalog,
)
from nautlive.venues.ibkr.gateway import PROBE_CLIENT_OFFSET, check_gateway, check_gateway_reachable

__all__ = [
    "PROBE_CLIENT_OFFSET",
    "VENUE",
    "IbkrSettings",
    "UnsupportedContract",
    "account_id",
    "check_gateway",
    "check_gateway_reachable",
    "data_client_config",
    "exec_client_config",
    "fetch_specs",
    "ibkr_settings",
    "instrument_provider_config",
    "spec_from_contract_details",
    "specs_from_contract_details_file",
    "write_catalog",
]
