"""The parallel reader hands its workers' columns back through shared slots; a piece too big for its slot (or a gzip
range, which has none) comes back pickled: either way the same report as one serial read, bad lines counted alike."""

from __future__ import annotations

import gzip
import shutil

import pytest

from nautlive import report
from nautlive.report import read, slots
from tests.test_report import generated, private_cache  # noqa: F401 - the fixtures


def chunked(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(read, "CHUNK_BYTES", 10_000)
    monkeypatch.setattr(read, "PARALLEL_MIN_BYTES", 0)


@pytest.mark.parametrize("min_line_bytes", [slots.MIN_LINE_BYTES, 5_000])  # 5,000: no piece fits, all pickled
def test_parallel_read_through_slots_equals_serial(generated, monkeypatch, tmp_path, min_line_bytes):  # noqa: F811
    _, path = generated
    bad = tmp_path / "drift.log"
    shutil.copy(path, bad)
    with open(bad, "a") as f:
        f.write("not json\n")
    serial = report.report_json(report.summarise(report.read_drift_log([bad], use_cache=False)))
    assert serial["malformed_lines"] == 1
    chunked(monkeypatch)
    monkeypatch.setattr(slots, "MIN_LINE_BYTES", min_line_bytes)
    assert report.report_json(report.summarise(report.read_drift_log([bad], use_cache=False))) == serial


def test_parallel_read_of_gzip_and_plain_logs(generated, monkeypatch, tmp_path):  # noqa: F811
    _, path = generated
    packed = tmp_path / "drift.log.1.gz"
    with open(path, "rb") as src, gzip.open(packed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    serial = report.report_json(report.summarise(report.read_drift_log([packed, path], use_cache=False)))
    chunked(monkeypatch)
    assert report.report_json(report.summarise(report.read_drift_log([packed, path], use_cache=False))) == serial


def test_parallel_read_without_room_for_slots(generated, monkeypatch):  # noqa: F811
    _, path = generated
    serial = report.report_json(report.summarise(report.read_drift_log([path], use_cache=False)))
    chunked(monkeypatch)
    real = slots.mmap.mmap

    def refused(fileno, length, **kwargs):  # noqa: ANN001, ANN202 - the mapping of a log too big for the machine
        if length > 1:
            raise OSError(12, "Cannot allocate memory")
        return real(fileno, length, **kwargs)

    monkeypatch.setattr(slots.mmap, "mmap", refused)
    assert report.report_json(report.summarise(report.read_drift_log([path], use_cache=False))) == serial
