"""Market data commands: `data download` (OHLCV bars from the venue's archive and REST) and `record` (its public
streams into a replayable recording). Thin: parse, call nautlive.data and the venue downloaders, render."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from nautlive.cli.apps import _typer, app
from nautlive.cli.options import ProfileOpt, VenueOpt, _profile, require_ib_extra
from nautlive.errors import ConfigError

SymbolsOpt = Annotated[
    str | None, typer.Option("--symbols", help="Comma-separated symbols (default: the profile's instruments).")
]

data_app = _typer("Market data from the venue: OHLCV bars for backtests.")
app.add_typer(data_app, name="data")


def _symbols(prof, symbols: str | None) -> list[str]:  # noqa: ANN001 - VenueProfile
    if symbols:
        chosen = [s.strip().upper() for s in symbols.split(",") if s.strip()]
    else:
        chosen = [iid.rsplit(".", 1)[0] for iid in prof.instruments]
    bad = [s for s in chosen if not s.isalnum()]
    if bad or not chosen:
        raise ConfigError(f"--symbols: {bad[0] if bad else symbols!r} is not a symbol like BTCUSDT")
    return chosen


@data_app.command("download")
def data_download(
    start: Annotated[str, typer.Option("--start", help="First bar's open time, UTC: 2023-03-16 or 2023-03-16T12:00Z.")],
    end: Annotated[
        str | None, typer.Option("--end", help="Up to (excluding) this UTC time. Default: now (closed bars only).",
                                 show_default=False)
    ] = None,
    interval: Annotated[str, typer.Option("--interval", help="Bar interval: 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d.")]
    = "1m",
    symbols: SymbolsOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for the files (default: <home>/data/<venue>/).",
                                  show_default=False)
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="parquet (BTCUSDT-1m.parquet) or json (freqtrade's "
                                     "BTC_USDT-1m.json).")] = "parquet",
    data_catalog: Annotated[
        Path | None, typer.Option("--data-catalog", help="Also write the bars (and instruments) into this Nautilus "
                                  "ParquetDataCatalog folder (what backtest --data-catalog reads).")
    ] = None,
    venue: VenueOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Download OHLCV bars into one file per symbol that `backtest --data` reads. Binance: whole months and days
    from the public archive (checksums verified), the rest from public REST klines. IB: reqHistoricalData through IB
    Gateway, in chunks IB's duration limits allow, paced as IB requires. Resumable: a re-run fetches only what the
    file lacks and the venue did not already answer (a night or weekend without bars is not asked again). Gaps are
    reported, never filled.

    Example (from the repository): nautlive data download --venue binance --start 2024-08-01 --end 2024-08-08
    --interval 1h --out /tmp/bars
    """
    from nautlive.config.home import in_home
    from nautlive.data.klines import interval_ms, parse_time
    from nautlive.data.store import FORMATS
    from nautlive.venues import venue_for

    prof = _profile(venue, profile)
    require_ib_extra(prof)
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: expected parquet or json")
    from nautlive.data.download import Job, run_download

    start_ms = parse_time(start, "--start")
    end_ms = parse_time(end, "--end") if end else 2**62
    if end_ms <= start_ms:
        raise ConfigError(f"--end {end} is not after --start {start}")
    folder = out if out is not None else Path(in_home(f"data/{prof.venue.lower()}"))
    job = Job(_symbols(prof, symbols), interval, interval_ms(interval), start_ms, end_ms, folder, fmt)
    with _Reporter() as reporter:
        results = run_download(job, venue_for(prof).downloader(prof, interval, reporter.say), reporter.progress)
    _summary(results, interval)
    if data_catalog is not None:
        _to_catalog(prof, data_catalog, results, job)


def _to_catalog(prof, path: Path, results, job) -> None:  # noqa: ANN001
    from nautlive.catalog.specs import load_catalog
    from nautlive.data.store import read_rows
    from nautlive.data.to_catalog import write_catalog
    from nautlive.report.console import line

    specs = {str(spec.instrument_id): spec for spec in load_catalog(prof.catalog).instruments}
    ids = {iid.rsplit(".", 1)[0]: iid for iid in prof.instruments}  # IB: AAPL is AAPL.NASDAQ
    files = [(ids.get(r.symbol, f"{r.symbol}.{prof.venue}"), str(r.path),
              [row for row in read_rows(r.path) if job.start_ms <= row[0] < job.end_ms]) for r in results if r.bars]
    written = write_catalog(path, specs, files, job.step_ms, prof.taker_fee)
    line(f"wrote {path}: {written} bars of {len(files)} instrument(s) (Nautilus ParquetDataCatalog)")


def _summary(results, interval: str) -> None:  # noqa: ANN001
    from nautlive.data.klines import describe_gaps, iso
    from nautlive.report.console import line, warn

    for r in results:
        unexpected = r.gaps if r.sessions else sorted([*r.gaps, *r.empty], key=lambda g: g.first_ms)
        for text in describe_gaps(r.symbol, interval, unexpected):
            warn(text)
        if r.duplicates:
            warn(f"{r.symbol} {interval}: {r.duplicates} bar(s) seen twice, kept once")
        if not r.bars:
            warn(f"{r.symbol} {interval}: the venue has no bars in this period: nothing written")
            continue
        span = f" {iso(r.first_ms)} to {iso(r.last_ms)}"
        line(f"wrote {r.path}: {r.bars} bars{span} ({r.added_text})")
        if r.sessions and r.empty:
            line(f"{r.symbol} {interval}: {len(r.empty)} period(s) without bars at the venue (market closed), not "
                 "asked again")


class _Reporter:
    """A rich progress bar on a terminal (stderr); one plain line per piece under cron or a pipe."""

    def __init__(self) -> None:
        self._bar = None
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import Progress

            self._bar = Progress(console=Console(stderr=True), transient=True)
            self._task = self._bar.add_task("download", total=None)

    def __enter__(self) -> _Reporter:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def say(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def progress(self, symbol: str, piece, source: str, added: int) -> None:  # noqa: ANN001
        text = f"{symbol} {piece.label}: {added} bars from {source}" if added else f"{symbol} {piece.label}: no bars"
        if self._bar is not None:
            self._bar.update(self._task, advance=1, description=text)
        else:
            print(text, file=sys.stderr, flush=True)


@app.command()
def record(
    duration: Annotated[
        float | None, typer.Option("--duration", min=0, help="Seconds to record (default: until Ctrl-C or SIGTERM).",
                                   show_default=False)
    ] = None,
    symbols: SymbolsOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for the files (default: <home>/data/<venue>/recordings/).",
                                  show_default=False)
    ] = None,
    venue: VenueOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Record the venue's public streams (bookTicker, trade, depth@100ms and the REST depth snapshot; no key) into
    one gzip file per symbol that `shadow --feed replay:`, `backtest --data` and `sim --replay` read. A lost stream
    reconnects, takes new snapshots and marks the gap in the file. Ctrl-C (exit 130) or SIGTERM (exit 0) stop it
    with the files complete.

    Example (from the repository, with `nautlive sim` running): nautlive record --venue binance-sim --duration 30
    --out /tmp/rec
    """
    from nautlive.config.home import in_home
    from nautlive.report.console import line
    from nautlive.venues import venue_for
    from nautlive.venues.binance.record import RecordJob, run_record
    from nautlive.venues.binance.urls import endpoints

    prof = _profile(venue, profile)
    venue_for(prof).check_data_support(prof, "record")
    folder = out if out is not None else Path(in_home(f"data/{prof.venue.lower()}/recordings"))
    urls = endpoints(prof.binance)
    job = RecordJob(_symbols(prof, symbols), folder, duration, urls.http, urls.ws)
    print(f"recording {', '.join(job.symbols)} from {urls.ws} into {folder}"
          + (f" for {duration:g} s" if duration is not None else " until Ctrl-C"), file=sys.stderr, flush=True)
    files, stopped_by = run_record(job, lambda text: print(text, file=sys.stderr, flush=True))
    for f in files:
        counts = ", ".join(f"{f.counts[k]} {k}" for k in ("bookTicker", "trade", "depth", "snapshots", "gaps"))
        line(f"wrote {f.path}: {sum(f.counts.values())} lines ({counts})")
    import signal

    if stopped_by == signal.SIGINT:
        print("interrupted", file=sys.stderr, flush=True)
        raise typer.Exit(130)
