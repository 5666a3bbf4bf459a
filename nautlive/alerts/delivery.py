"""Delivery of alerts through apprise, off the caller's thread: a slow or failing receiver never holds anything up.

`AlertSink.emit` only puts the event on one queue per URL (microseconds, safe on the node's event loop). Each URL has
its own worker thread (`Courier`), so a receiver that answers after 10 s delays only its own messages. Per event kind
the first event goes out at once; later ones within `alerts.min_interval_secs` are held back and sent as one digest
when the interval is over (or at close). A target's first failure is reported once on stderr; later ones are only
counted. `close()` flushes for at most `alerts.flush_secs`, then gives up on what is left (daemon threads).

URLs are never shown: a target is named by its index and apprise's privacy form (`tgram://1...n/987654/`), and
every part of the URL that form hides is scrubbed from error texts.
"""

from __future__ import annotations

import functools
import logging
import queue
import re
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from nautlive.alerts.events import FINAL_KINDS, AlertEvent, digest

_CLOSE = object()
_URL_PARTS = re.compile(r"[/:@?&=#,;+]+")
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^\"')]+)")
_SECRET_MIN_LEN = 4


def _stderr(line: str) -> None:
    print(f"warning: alerts: {line}", file=sys.stderr, flush=True)


# -- apprise, imported on first use --------------------------------------------------------------------------------


class _Capture(logging.Handler):
    """Keeps apprise's log records per sending thread, so each send can say why it failed; nothing is printed."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.by_thread: dict[int, list[logging.LogRecord]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        records = self.by_thread.get(record.thread)
        if records is not None:
            records.append(record)


@functools.cache
def _apprise() -> tuple:
    """(apprise module, the capture handler). apprise's own log lines (which may hold URLs) never reach stderr."""
    import apprise

    capture = _Capture()
    logger = logging.getLogger("apprise")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(capture)
    return apprise, capture


def _plugin(url: str):  # noqa: ANN202
    apprise, _ = _apprise()
    return apprise.Apprise.instantiate(url)


def url_problem(url: str) -> str | None:
    """Why apprise cannot use `url` (never quoting it), or None. A service's own https:// URL (a Slack or Discord
    webhook) is fine when apprise recognises it."""
    if _plugin(url) is not None:
        return None
    from apprise.apprise import N_MGR

    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if not scheme or scheme not in N_MGR:
        return (f"not an apprise URL: unknown service {scheme + '://' if scheme else '(no scheme://)'} "
                "(a webhook of your own: json://HOST[:PORT]/PATH or form://...)")
    return f"apprise cannot use this {scheme}:// URL (a token, address or option is missing or malformed)"


def private_url(url: str) -> str:
    """The URL with its credentials masked by apprise (`json://user:****@host/hook`), without default options."""
    return _shown(_plugin(url))


def _shown(plugin) -> str:  # noqa: ANN001
    return plugin.url(privacy=True).split("?", 1)[0] if plugin is not None else "(invalid URL)"


class Target:
    """One apprise URL: a label safe to print, and send() that answers None or why the message did not go out."""

    def __init__(self, index: int, url: str) -> None:
        self._plugin = _plugin(url)
        shown = _shown(self._plugin)
        self.label = f"alerts.urls[{index}] {shown}"
        self._secrets = sorted({p for p in _URL_PARTS.split(url.split("://", 1)[-1])
                                if len(p) >= _SECRET_MIN_LEN and p not in shown}, key=len, reverse=True)

    def send(self, event: AlertEvent, origin: str) -> str | None:
        from nautlive.errors import scrub

        apprise, capture = _apprise()
        if self._plugin is None:
            return "invalid URL"
        ident = threading.get_ident()
        capture.by_thread[ident] = []
        try:
            ok = self._plugin.notify(body=scrub(event.body), title=scrub(f"{origin}: {event.title}"),
                                     notify_type=apprise.NotifyType(event.level))
            error = None if ok else _error_text(capture.by_thread[ident])
        except Exception as exc:  # noqa: BLE001 - a plugin's bug must not kill the worker
            error = f"{type(exc).__name__}: {exc}"
        finally:
            capture.by_thread.pop(ident, None)
        return self.scrub(error) if error else None

    def scrub(self, text: str) -> str:
        """`text` without any part of this target's URL that apprise's privacy form hides, nor profile secrets."""
        from nautlive.errors import scrub

        for secret in self._secrets:
            text = text.replace(secret, "****")
        return scrub(text)


def _error_text(records: list[logging.LogRecord]) -> str:
    """apprise's last warning ("A Connection error occurred ...") and the cause from its debug detail."""
    warnings = [r.getMessage() for r in records if r.levelno >= logging.WARNING]
    details = [r.getMessage() for r in records if r.levelno < logging.WARNING and "Exception" in r.getMessage()]
    text = warnings[-1] if warnings else "not delivered"
    if details:
        errno = _ERRNO.findall(details[-1])
        cause = errno[-1] if errno else ("read timed out" if "timed out" in details[-1] else details[-1][:160])
        text = f"{text.rstrip('.')}: {cause.strip()}"
    return text


# -- throttling per event kind -----------------------------------------------------------------------------------


class Throttle:
    """Per event kind: the first event passes; later ones within `interval` s are held and released as one digest."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._held: dict[str, list[AlertEvent]] = {}

    def offer(self, event: AlertEvent, now: float) -> AlertEvent | None:
        last = self._last.get(event.kind)
        if last is None or now - last >= self.interval:
            self._last[event.kind] = now
            return event
        self._held.setdefault(event.kind, []).append(event)
        return None

    def due(self, now: float) -> list[AlertEvent]:
        kinds = [k for k in self._held if now - self._last[k] >= self.interval]
        for kind in kinds:
            self._last[kind] = now
        return [digest(self._held.pop(k), self.interval) for k in kinds]

    def drain(self) -> list[AlertEvent]:
        held, self._held = self._held, {}
        return [digest(events, self.interval) for events in held.values()]

    def next_due(self) -> float | None:
        return min((self._last[k] + self.interval for k in self._held), default=None)

    def held(self) -> int:
        return sum(map(len, self._held.values()))


# -- one worker per URL ------------------------------------------------------------------------------------------


class Courier:
    """A worker thread delivering to one target, in order, throttled; reports its first failure once."""

    def __init__(self, target: Target, interval: float, origin: str, report: Callable[[str], None]) -> None:
        self.target, self.origin, self._report = target, origin, report
        self.throttle = Throttle(interval)
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.sent = self.failed = 0
        self.thread = threading.Thread(target=self._run, name="nautlive-alerts", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            wake = self.throttle.next_due()
            try:
                item = self.queue.get(timeout=None if wake is None else max(0.0, wake - time.monotonic()))
            except queue.Empty:
                self._deliver(*self.throttle.due(time.monotonic()))
                continue
            if item is _CLOSE:
                self._deliver(*self.throttle.drain())
                return
            if item.kind in FINAL_KINDS:  # what was held back goes before the session's last word
                self._deliver(*self.throttle.drain())
            self._deliver(*filter(None, [self.throttle.offer(item, time.monotonic())]))

    def _deliver(self, *events: AlertEvent) -> None:
        for event in events:
            error = self.target.send(event, self.origin)
            if error is None:
                self.sent += 1
                continue
            self.failed += 1
            if self.failed == 1:
                self._report(f"{self.target.label}: {error} (later failures of this target are counted, not shown)")

    def pending(self) -> int:
        return self.queue.qsize() + self.throttle.held()


class AlertSink:
    """Where a session's (or a command's) alerts go; emit() never blocks. An empty URL list sends nothing."""

    def __init__(self, settings, origin: str, report: Callable[[str], None] = _stderr) -> None:  # noqa: ANN001
        self.settings, self._report = settings, report
        self._kinds = frozenset(settings.events)
        self.couriers = [Courier(Target(i, url), settings.min_interval_secs, origin, report)
                         for i, url in enumerate(settings.urls)]

    def emit(self, event: AlertEvent) -> None:
        if event.kind in self._kinds:
            for courier in self.couriers:
                courier.queue.put(event)

    def close(self) -> None:
        """Flush what is queued or held for at most alerts.flush_secs; say what was not delivered."""
        deadline = time.monotonic() + self.settings.flush_secs
        for courier in self.couriers:
            courier.queue.put(_CLOSE)
        for courier in self.couriers:
            courier.thread.join(max(0.0, deadline - time.monotonic()))
        for courier in self.couriers:
            label = courier.target.label
            if courier.thread.is_alive():
                self._report(f"{label}: not all delivered within alerts.flush_secs ({self.settings.flush_secs:g} s); "
                             f"{courier.pending() + 1} message(s) dropped")
            if courier.failed > 1:
                self._report(f"{label}: {courier.failed} of {courier.failed + courier.sent} messages failed")


def send_each(urls: list[str], event: AlertEvent, origin: str) -> list[tuple[str, str | None]]:
    """Send `event` to every URL at once (a slow one does not hold up the others): [(label, error or None)]."""
    targets = [Target(i, url) for i, url in enumerate(urls)]
    with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
        errors = list(pool.map(lambda t: t.send(event, origin), targets))
    return [(t.label, e) for t, e in zip(targets, errors, strict=True)]


def send_once(settings, event: AlertEvent, origin: str) -> None:  # noqa: ANN001 - AlertSettings
    """One event from a command that is about to exit (drift-report): sent within alerts.flush_secs, or reported."""
    sink = AlertSink(settings, origin)
    sink.emit(event)
    sink.close()
