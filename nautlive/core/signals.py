"""Target weights: parse and validate the optimiser's file, and watch it for new versions.

A file is applied whole or not at all. Anything wrong (invalid JSON, truncation, NaN/inf, a negative weight, a sum above
1, an unknown instrument, another venue, an oversized file) is a TargetRejected with the reason; the last good target
stays in force.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Collection
from decimal import Decimal, InvalidOperation
from pathlib import Path

import msgspec

from nautlive.errors import ConfigError

TARGETS_TOPIC = "nautlive.targets"
MAX_TARGET_FILE_BYTES = 1_000_000
SUM_TOLERANCE = Decimal("1e-9")


class TargetRejected(ConfigError):
    """A target file that must not be applied; the message says why."""


class TargetWeights(msgspec.Struct, frozen=True):
    """One validated version of the target file."""

    weights: dict[str, Decimal]
    hash: str
    as_of: str | None = None
    source: str = ""


def parse_targets(
    body: bytes, known: Collection[str], venue: str | None = None, source: str = "targets"
) -> TargetWeights:
    """Validate the content of a target file: `{"as_of", "weights": {...}}` or a bare `{instrument: weight}`."""
    if not body.strip():
        raise TargetRejected(f"{source}: empty file")
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise TargetRejected(f"{source}: not valid JSON (truncated or mid-write?): {exc}") from None
    if not isinstance(doc, dict):
        raise TargetRejected(f"{source}: expected a JSON object, got {type(doc).__name__}")
    raw = doc["weights"] if "weights" in doc else doc
    as_of = doc.get("as_of") if "weights" in doc else None
    if not isinstance(raw, dict) or not raw:
        raise TargetRejected(f"{source}: weights must be a non-empty object of instrument -> weight")
    weights = {str(iid): _weight(source, str(iid), value) for iid, value in raw.items()}
    _check_instruments(source, weights, known, venue)
    total = sum(weights.values(), Decimal(0))
    if total > 1 + SUM_TOLERANCE:
        raise TargetRejected(
            f"{source}: weights sum to {total}, above 1 (leverage is not allowed; weights are fractions of NAV: "
            "0.5 for half, not 50)"
        )
    digest = hashlib.sha256(msgspec.json.encode(sorted((k, str(v)) for k, v in weights.items()))).hexdigest()[:16]
    return TargetWeights(weights=weights, hash=digest, as_of=str(as_of) if as_of is not None else None, source=source)


def read_targets(path: str | Path, known: Collection[str], venue: str | None = None) -> TargetWeights:
    """Read and validate a target file from disk, refusing directories and oversized files before reading."""
    path = Path(path)
    try:
        if path.is_dir():
            raise TargetRejected(f"{path}: is a directory, expected a target weights JSON file")
        size = path.stat().st_size
        if size > MAX_TARGET_FILE_BYTES:
            raise TargetRejected(f"{path}: {size} bytes, above the {MAX_TARGET_FILE_BYTES} byte limit for a target file")
        body = path.read_bytes()
    except FileNotFoundError:
        raise TargetRejected(f"{path}: target file not found") from None
    except OSError as exc:
        raise TargetRejected(f"{path}: cannot read: {exc.strerror}") from None
    return parse_targets(body, known, venue, source=str(path))


def _weight(source: str, iid: str, value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TargetRejected(f"{source}: {iid}: weight must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise TargetRejected(f"{source}: {iid}: weight is {value}, expected a finite number")
    try:
        weight = Decimal(str(value))
    except InvalidOperation:
        raise TargetRejected(f"{source}: {iid}: weight {value!r} is not a number") from None
    if not weight.is_finite():
        raise TargetRejected(f"{source}: {iid}: weight is {value}, expected a finite number")
    if weight < 0:
        raise TargetRejected(f"{source}: {iid}: negative weight {weight} (long only)")
    return weight


def _check_instruments(source: str, weights: dict[str, Decimal], known: Collection[str], venue: str | None) -> None:
    for iid in weights:
        if venue is not None and "." in iid and iid.rsplit(".", 1)[1] != venue and iid not in known:
            raise TargetRejected(f"{source}: {iid}: belongs to venue {iid.rsplit('.', 1)[1]}, this session trades {venue}")
        if iid not in known:
            raise TargetRejected(f"{source}: {iid}: unknown instrument (this session trades {', '.join(sorted(known))})")


class ScheduledTargets(msgspec.Struct, frozen=True):
    """A target change at a data time (ns); `at_ns` None means at the first quote."""

    at_ns: int | None
    targets: TargetWeights


def read_schedule(path: str | Path, known: Collection[str], venue: str | None = None) -> list[ScheduledTargets]:
    """`[{"at": "ISO time", "weights": {...}}, ...]` in time order; each entry validated like a target file."""
    import datetime as dt

    path = Path(path)
    try:
        doc = msgspec.json.decode(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"{path}: schedule file not found") from None
    except (msgspec.DecodeError, IsADirectoryError) as exc:
        raise ConfigError(f"{path}: schedule is not valid JSON: {exc}") from None
    if not isinstance(doc, list) or not doc:
        raise ConfigError(f'{path}: expected a non-empty list of {{"at": ISO time, "weights": {{...}}}}')
    schedule: list[ScheduledTargets] = []
    for i, entry in enumerate(doc):
        if not isinstance(entry, dict) or "at" not in entry or "weights" not in entry:
            raise ConfigError(f'{path}: [{i}]: expected {{"at": ISO time, "weights": {{...}}}}')
        try:
            at = dt.datetime.fromisoformat(str(entry["at"]).replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(f"{path}: [{i}].at: {entry['at']!r} is not an ISO-8601 time") from None
        if at.tzinfo is None:
            at = at.replace(tzinfo=dt.UTC)
        at_ns = int(at.timestamp() * 1_000_000) * 1_000
        if schedule and at_ns <= schedule[-1].at_ns:
            raise ConfigError(f"{path}: [{i}].at: {entry['at']} is not after the previous entry (out of time order)")
        body = msgspec.json.encode({"as_of": entry["at"], "weights": entry["weights"]})
        schedule.append(ScheduledTargets(at_ns, parse_targets(body, known, venue, source=f"{path}[{i}]")))
    return schedule


class TargetWeightWatcher:
    """Watches the target file's folder (so an atomic rename counts) and publishes each new valid version.

    Runs as a task on the node's event loop. A version is read only once the file has been quiet for `settle_ms`
    (0: at once), so a burst of writes is read once, at its last version; the versions a later write replaced first
    are counted in `superseded`. A rejected version is logged with its reason and the last good target stays in
    force; the same content twice is published once.
    """

    # Tuned for latency: watchfiles' defaults (1600 ms debounce, 50 ms step) notice a rename in about 74 ms.
    DEBOUNCE_MS = 5
    STEP_MS = 2

    def __init__(self, path: str | Path, known: Collection[str], venue: str | None, publish, log,  # noqa: ANN001
                 settle_ms: float = 0) -> None:
        self.path = Path(path).absolute()
        self._known, self._venue = known, venue
        self._publish, self._log = publish, log
        self.settle = max(0.0, settle_ms) / 1000
        self.last_good: TargetWeights | None = None
        self.rejected: list[str] = []
        self.superseded = 0  # versions of the file replaced by a later write before they settled
        self._timer: asyncio.TimerHandle | None = None
        self._seen: tuple[int, int] | None = None  # (mtime_ns, size) of the version waiting to settle

    @property
    def settling(self) -> bool:
        """A new version waits for the file to be quiet."""
        return self._timer is not None

    def apply_current(self) -> TargetWeights | None:
        """Read, validate and publish the file as it is now; None when it is absent or rejected."""
        if not self.path.exists():
            if self.last_good is None:
                self._log.warning(f"Target file {self.path} is absent: waiting for it, nothing trades until it appears")
            else:
                self._log.warning(f"Target file {self.path} is absent: the last good target stays in force")
            return None
        try:
            targets = read_targets(self.path, self._known, self._venue)
        except TargetRejected as exc:
            self.rejected.append(str(exc))
            self._log.info(f"Target file rejected, last good target stays in force: {exc}")  # the display says it
            return None
        if self.last_good is not None and targets.hash == self.last_good.hash:
            return None
        self.last_good = targets
        self._publish(targets)
        return targets

    async def run(self, stop_event=None) -> None:  # noqa: ANN001
        import watchfiles

        self.path.parent.mkdir(parents=True, exist_ok=True)
        seen = None
        while (wait := self._unsettled_for()) > 0 and self._stat() != seen:  # written just before the start: settle
            seen = self._stat()
            await asyncio.sleep(wait)
        self.apply_current()
        try:
            async for changes in watchfiles.awatch(
                self.path.parent, debounce=self.DEBOUNCE_MS, step=self.STEP_MS, stop_event=stop_event,
                recursive=False, rust_timeout=1_000,
            ):
                if any(Path(changed) == self.path for _, changed in changes):
                    self._changed()
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _changed(self) -> None:
        if self.settle <= 0:
            self.apply_current()
            return
        version = self._stat()
        if self._timer is not None:
            if version == self._seen:
                return  # another event of the same write
            self._timer.cancel()
            self.superseded += 1
        self._seen = version
        self._timer = asyncio.get_running_loop().call_later(self.settle, self._settled)

    def _settled(self) -> None:
        """The timer of the last change ran out: read the file, unless it changed again unnoticed."""
        version = self._stat()
        if version != self._seen and (wait := self._unsettled_for()) > 0:
            self._seen = version
            self._timer = asyncio.get_running_loop().call_later(wait, self._settled)
            return
        self._timer, self._seen = None, None
        self.apply_current()

    def _unsettled_for(self) -> float:
        """Seconds until the file has been quiet for the settle time (0 when it has, or is absent; at most the settle
        time, whatever a skewed clock put in its mtime)."""
        version = self._stat()
        if version is None or self.settle <= 0:
            return 0.0
        return min(self.settle, max(0.0, version[0] / 1e9 + self.settle - time.time()))

    def _stat(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size
