"""VenueProfile: what one venue account needs (instruments, paths, policy, connection), loaded from YAML.

Secrets come only from the environment through `${VAR}` or `${VAR:-default}`; a committed profile holds none.
"""

from __future__ import annotations

import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import msgspec
import msgspec.inspect
import yaml

from nautlive.alerts.events import EVENT_KINDS
from nautlive.core.policy import RebalancePolicy
from nautlive.errors import ConfigError, remember_secret, scrub
from nautlive.venues.binance.config import BinanceSettings
from nautlive.venues.ibkr.config import IbkrSettings

SECRET_FIELDS = frozenset({"api_key", "api_secret", "account_id"})
REDACTED = "****"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# An environment variable whose name says it holds a secret: its value is never echoed in a message.
_SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|PASS|ACCOUNT", re.IGNORECASE)
# Shorter values are not scrubbed: replacing every "1" or "ab" of a message would garble it and hide nothing.
_SCRUB_MIN_LEN = 4


class _Frozen(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class ShadowSettings(_Frozen):
    """Simulated fills: synthetic cash (default 100,000 in the quote currency), and the time an order takes from
    submit to matching (it meets the book as it is then; default a venue round trip). Backtests use the same."""

    starting_balances: dict[str, Decimal] = {}
    latency_ms: float = 50.0


class ExecutionSettings(_Frozen):
    """How rebalance orders go out (nautlive.core.execution): `market` (a MARKET order walks the book), `limit_cap` (a
    marketable LIMIT IOC at the mid at submit +/- `max_slippage_bps`; what the cap leaves is reported and planned
    again by the next rebalance), `twap` (child orders every `interval_secs` over `horizon_secs`, each `child`:
    market or limit_cap) or `passive_then_market` (a post-only LIMIT at the touch, moved with it, the rest crossing
    as a market order after `patience_secs`)."""

    style: Literal["market", "limit_cap", "twap", "passive_then_market"] = "market"
    max_slippage_bps: Decimal = Decimal("10")
    horizon_secs: float = 300.0
    interval_secs: float = 30.0
    child: Literal["market", "limit_cap"] = "market"
    patience_secs: float = 20.0


class ReconcileSettings(_Frozen):
    """What a mismatch does at startup, per-field severity overrides (field -> BLOCKING|WARNING|INFO), and whether
    the catalog follows the venue's relaxations (adopt: relaxed)."""

    on_mismatch: Literal["warn", "fail"] | None = None
    severity: dict[str, Literal["BLOCKING", "WARNING", "INFO"]] = {}
    adopt: Literal["relaxed"] | None = None


class LiveSettings(_Frozen):
    """Safety rails and timeouts of a live session (every duration in seconds unless named otherwise, all > 0)."""

    kill_switch: str = "artifacts/KILL"
    # Folder of the per-account session locks; None = $XDG_STATE_HOME/nautlive/locks, else
    # ~/.local/state/nautlive/locks, so copies of a profile in other folders still share one lock per account.
    lock_dir: str | None = None
    connect_timeout: float = 15.0
    fill_timeout: float = 30.0
    stop_timeout: float = 10.0  # how long a stop waits for the venue to confirm each open order cancelled or filled
    down_report_secs: float = 10.0  # while the venue is unreachable, report it this often
    down_timeout: float = 300.0  # give up (exit 1) when the venue stays unreachable this long
    recover_hours: float = 24.0  # how far back a restart looks for the previous session's orders and fills
    # Orders already open at the venue when a session starts: fail (exit, touch nothing), cancel them, or keep them.
    open_orders: Literal["fail", "cancel", "keep"] = "fail"
    # A Binance key that can withdraw funds is refused in LIVE (exit 4) unless this says the risk is accepted.
    allow_withdrawal_keys: bool = False


class RiskSettings(_Frozen):
    """Hard limits of a session on top of the rebalance policy; see nautlive.config.validate.turnover_budget."""

    # Traded notional over a rolling 24 h: a multiple of NAV ("2x", "0.5x") or an amount in the quote currency
    # ("250000"); a bare YAML number is read as an amount.
    max_turnover_per_day: str | int | float = "2x"
    max_orders_per_hour: int = 120


class AlertSettings(_Frozen):
    """Where alerts go (apprise URLs: tgram://, slack://, mailto://, json://, ...), which event kinds, how often.

    Per kind, events within min_interval_secs of the last one sent are held back and sent later as one digest; at
    the end of a session what is pending is flushed for at most flush_secs. See nautlive.alerts.
    """

    urls: list[str] = []
    events: list[str] = msgspec.field(default_factory=lambda: list(EVENT_KINDS))  # default: every kind
    min_interval_secs: float = 60.0
    flush_secs: float = 3.0


class VenueProfile(_Frozen):
    """One venue account: the instruments it trades and every setting a run needs."""

    venue: str
    adapter: Literal["binance", "ibkr"]
    instruments: list[str]
    quote_currency: str
    catalog: str
    targets: str = "artifacts/orders/target_weights.json"
    # `targets: {path: ..., settle_ms: N}` in YAML: a new version of the target file is read once the file has been
    # quiet this long (a burst of writes trades its last version once); 0 reads each version at once.
    target_settle_ms: float = 300.0
    drift_log: str = "artifacts/logs/live/drift.log"
    drift_alert_bps: Decimal = Decimal("25")
    taker_fee: Decimal = Decimal("0.001")
    shadow: ShadowSettings = ShadowSettings()
    rebalance: RebalancePolicy = RebalancePolicy()
    execution: ExecutionSettings = ExecutionSettings()
    reconcile: ReconcileSettings = ReconcileSettings()
    live: LiveSettings = LiveSettings()
    risk: RiskSettings = RiskSettings()
    alerts: AlertSettings = AlertSettings()
    binance: BinanceSettings | None = None
    ibkr: IbkrSettings | None = None
    name: str = ""
    source: str = ""  # the file load_profile read this profile from (absolute); set by the loader, not the YAML

    def has_keys(self) -> bool:
        return bool(self.binance and self.binance.api_key and self.binance.api_secret)

    def starting_balances(self) -> dict[str, Decimal]:
        return dict(self.shadow.starting_balances) or {self.quote_currency: Decimal(100_000)}


def profiles_dir() -> Path:
    """`<home>/profiles`: the working folder is --home, else $NAUTLIVE_HOME, else the current folder (nautlive.config.home)."""
    from nautlive.config.home import home

    return home() / "profiles"


def profile_path(venue: str | None, profile: str | Path | None) -> Path:
    """--profile PATH as given (relative to the current folder), else `<home>/profiles/NAME.yaml`.

    Outside a working folder (no `<home>/profiles`) a name is a ConfigError that says to run `nautlive init`.
    """
    if profile is not None:
        return Path(profile)
    if venue is None:
        raise ConfigError("no profile given: pass --venue NAME (profiles/NAME.yaml) or --profile PATH")
    folder = profiles_dir()
    if not folder.is_dir():
        from nautlive.config.home import no_profiles_error

        raise no_profiles_error(folder)
    return folder / f"{venue}.yaml"


def load_profile(venue: str | None = None, profile: str | Path | None = None) -> VenueProfile:
    """Load, interpolate and validate a profile; every error names the file and the key."""
    path = profile_path(venue, profile)
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in profiles_dir().glob("*.yaml")))
        raise ConfigError(f"{path}: profile not found (known profiles: {known or 'none'})")
    raw = _read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(raw).__name__}")
    for key in ("source", "target_settle_ms"):
        if key in raw:
            raise ConfigError(f"{path}: {key}: unknown key (it is set by the loader)")
    try:
        resolved = _targets_section(_interpolate(raw, path, ""), path)
        resolved.setdefault("name", path.stem)
        resolved["source"] = str(path.resolve())
        try:
            loaded = msgspec.convert(resolved, VenueProfile, strict=False)
        except msgspec.ValidationError as exc:
            raise ConfigError(f"{path}: {describe_validation_error(exc, VenueProfile)}") from None
        loaded = _with_secret_file(loaded, path)
        from nautlive.config.validate import validate_profile

        validate_profile(loaded, path)
    except ConfigError as exc:
        raise ConfigError(scrub(str(exc))) from None
    return loaded


def _targets_section(raw: dict, path: Path) -> dict:
    """`targets: PATH`, or `targets: {path: PATH, settle_ms: N}` (each optional) read into targets and
    target_settle_ms."""
    section = raw.get("targets")
    if not isinstance(section, dict):
        return raw
    unknown = sorted(set(section) - {"path", "settle_ms"})
    if unknown:
        raise ConfigError(f"{path}: targets.{unknown[0]}: unknown key (expected path, settle_ms)")
    resolved = {k: v for k, v in raw.items() if k != "targets"}
    if "path" in section:
        resolved["targets"] = section["path"]
    if "settle_ms" in section:
        value = section["settle_ms"]
        try:
            if isinstance(value, bool):
                raise ValueError
            resolved["target_settle_ms"] = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{path}: targets.settle_ms: expected milliseconds (a number), got {value!r}") from None
    return resolved


def _with_secret_file(profile: VenueProfile, path: Path) -> VenueProfile:
    """binance.api_secret_file read into binance.api_secret (remembered as a secret, never shown)."""
    settings = profile.binance
    if settings is None or settings.api_secret_file is None:
        return profile
    if settings.api_secret:
        raise ConfigError(f"{path}: binance: set api_secret or api_secret_file, not both")
    from nautlive.venues.binance.keys import read_secret_file

    secret = read_secret_file(settings.api_secret_file, f"{path}: binance.api_secret_file")
    remember_secret(secret, "binance.api_secret_file")
    remember_secret(secret.strip(), "binance.api_secret_file")
    return msgspec.structs.replace(profile, binance=msgspec.structs.replace(settings, api_secret=secret))


def _remember_secret(name: str, value: str, key: str) -> None:
    field = key.rsplit(".", 1)[-1]
    if len(value) >= _SCRUB_MIN_LEN and (_SECRET_NAME.search(name) or field in SECRET_FIELDS
                                         or key.startswith("alerts.urls")):
        remember_secret(value, name)


def describe_validation_error(exc: msgspec.ValidationError, root: type | None = None) -> str:
    """Turn msgspec's "Expected `int`, got `str` - at `$.ibkr.port`" into "ibkr.port: expected int, got str"."""
    text = str(exc)
    message, _, where = text.partition(" - at `")
    key = where.rstrip("`").removeprefix("$").lstrip(".") or "(top level)"
    if message.startswith("Object contains unknown field"):
        field = message.split("`")[1]
        at = key + "." if key != "(top level)" else ""
        guess = nearest_key(root, at, field) if root is not None else None
        return f"{at}{field}: unknown key" + (f" (did you mean {guess}?)" if guess else "")
    if message.startswith("Object missing required field"):
        field = message.split("`")[1]
        return f"{key + '.' if key != '(top level)' else ''}{field}: required key is missing"
    if message.startswith("Invalid enum value") and root is not None:
        allowed = _literal_values(root, key)
        if allowed:
            return f"{key}: expected one of {', '.join(allowed)}, got {message.split(' ', 3)[-1]}"
    return f"{key}: {message.replace('`', '').replace('Expected', 'expected')}"


def nearest_key(root: type, at: str, field: str) -> str | None:
    """The known key a typo most likely meant: a close name beside it (`rebalance.bnad` -> rebalance.band), else a
    close name anywhere (`band` at the top level -> rebalance.band)."""
    import difflib

    keys = _dotted_keys(msgspec.inspect.type_info(root))
    beside = [k for k in keys if k.rpartition(".")[0] == at.rstrip(".")]
    for pool in (beside, keys):
        by_name = {}
        for k in pool:
            by_name.setdefault(k.rpartition(".")[2], k)
        close = difflib.get_close_matches(field.lower(), list(by_name), n=1, cutoff=0.75)
        if close:
            return by_name[close[0]]
    return None


def _dotted_keys(info: msgspec.inspect.Type, prefix: str = "") -> list[str]:
    """Every key of a Struct type, nested ones dotted: ["venue", ..., "rebalance.band", ...]."""
    keys = []
    for f in getattr(_non_optional(info), "fields", ()):
        keys.append(prefix + f.name)
        keys += _dotted_keys(f.type, f"{prefix}{f.name}.")
    return keys


def _literal_values(root: type, key: str) -> list[str]:
    """The allowed values of the Literal field at a dotted key, e.g. "reconcile.on_mismatch" -> [fail, warn]."""
    info = msgspec.inspect.type_info(root)
    for part in key.split("."):
        fields = {f.name: f.type for f in getattr(_non_optional(info), "fields", ())}
        if part not in fields:
            return []
        info = fields[part]
    return [str(v) for v in getattr(_non_optional(info), "values", ())]


def _non_optional(info: msgspec.inspect.Type) -> msgspec.inspect.Type:
    if isinstance(info, msgspec.inspect.UnionType):
        return next(t for t in info.types if not isinstance(t, msgspec.inspect.NoneType))
    return info


def redacted(profile: VenueProfile) -> dict[str, Any]:
    """The resolved profile as plain data with every secret shown as **** (and any secret value a variable put
    into another setting shown as "the value of ${NAME}", see scrub()); alert URLs with their credentials masked."""
    shown = _redact(msgspec.to_builtins(profile))
    if profile.alerts.urls:
        from nautlive.alerts.delivery import private_url

        shown["alerts"]["urls"] = [scrub(private_url(url)) for url in profile.alerts.urls]
    return shown


def secrets_of(profile: VenueProfile) -> list[str]:
    """Every secret value the profile resolved, so outputs can be checked or scrubbed."""
    found: list[str] = []
    for section in (profile.binance, profile.ibkr):
        for field in SECRET_FIELDS:
            value = getattr(section, field, None)
            if value:
                found.append(value)
    return found + list(profile.alerts.urls)


def _redact(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: (REDACTED if k in SECRET_FIELDS and v else _redact(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_redact(v) for v in node]
    return scrub(node) if isinstance(node, str) else node


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: YAML syntax error{where}: {problem}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def _interpolate(node: Any, path: Path, key: str) -> Any:
    if isinstance(node, dict):
        return {k: _interpolate(v, path, f"{key}.{k}" if key else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, path, f"{key}[{i}]") for i, v in enumerate(node)]
    if isinstance(node, str):
        return _substitute(node, path, key)
    return node


def _substitute(text: str, path: Path, key: str) -> str | None:
    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name)
        if value is None:
            if default is None:
                raise ConfigError(f"{path}: {key}: environment variable {name} is not set")
            return default
        _remember_secret(name, value, key)
        return value

    result = _ENV_REF.sub(replace, text)
    return None if result == "" and _ENV_REF.fullmatch(text) else result
