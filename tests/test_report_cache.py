"""drift-report over rotated logs and through its cache: globs and gzip, a re-run that decodes only what was appended,
and a cache that notices a replaced, truncated or rotated log. The cached result always equals the cold one."""

import gzip
import json
import os

import msgspec
import numpy as np
import pytest
from typer.testing import CliRunner

from nautlive import report
from nautlive.cli.app import app
from nautlive.report import cache, read
from nautlive.report.columns import ROW_ARRAYS
from tests.test_report import generated_fills, log_lines, write_log

runner = CliRunner()
LINES = log_lines(generated_fills(1200, seed=21))


@pytest.fixture(autouse=True)
def small_cache(tmp_path_factory, monkeypatch):
    """A private cache folder that caches logs of any size."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setattr(cache, "MIN_BYTES", 0)


@pytest.fixture
def decoded(monkeypatch):
    """The byte ranges the reader decodes (path name, start, end), as it decodes them."""
    ranges = []
    decode = read._read_range

    def recording(task):
        ranges.append((os.path.basename(task.path), task.start, task.end))
        return decode(task)

    monkeypatch.setattr(read, "_read_range", recording)
    return ranges


def append(path, lines, end="\n"):
    with open(path, "a") as f:
        f.write("\n".join(lines) + end)


def assert_same_as_cold(paths, **filters):
    """The cached read equals a read without the cache: every column, and the report."""
    warm = report.read_drift_log(paths, report.parse_filters(**filters))
    cold = report.read_drift_log(paths, report.parse_filters(**filters), use_cache=False)
    for name in (*ROW_ARRAYS, "paths", "malformed", "fills_in_logs", "paths_naming_parents"):
        np.testing.assert_array_equal(getattr(warm, name), getattr(cold, name), err_msg=name)
    assert [warm.kinds[k] for k in warm.kind] == [cold.kinds[k] for k in cold.kind]
    assert report.report_json(report.summarise(warm)) == report.report_json(report.summarise(cold))
    return warm


def test_a_rerun_decodes_only_the_appended_lines_and_equals_a_cold_run(tmp_path, decoded):
    log = write_log(tmp_path / "drift.log", LINES[:500])
    assert len(assert_same_as_cold([log])) == 500
    size = log.stat().st_size
    append(log, LINES[500:700])
    decoded.clear()
    assert len(report.read_drift_log([log])) == 700
    assert decoded == [("drift.log", size, log.stat().st_size)]
    decoded.clear()
    assert len(report.read_drift_log([log])) == 700
    assert decoded == []  # nothing new: nothing decoded
    assert_same_as_cold([log], mode="live", since="2026-11-24T18:00:00Z")


def test_a_line_being_written_is_read_but_not_cached(tmp_path, decoded):
    log = write_log(tmp_path / "drift.log", LINES[:300])
    half = LINES[300][: len(LINES[300]) // 2]
    append(log, [half], end="")  # a write in progress (or cut short by a crash)
    assert (len(report.read_drift_log([log])), report.read_drift_log([log]).malformed) == (300, 0)
    complete = log.stat().st_size - len(half)
    append(log, [LINES[300][len(half):], *LINES[301:400]])  # the writer finishes the line and goes on
    decoded.clear()
    warm = assert_same_as_cold([log])
    assert (len(warm), warm.malformed) == (400, 0)
    assert decoded[0][1] == complete  # the half line was decoded again, not taken from the cache
    append(log, ["{cut short by a crash"])  # ended by the next session: a bad line, counted once complete
    assert assert_same_as_cold([log]).malformed == 1


def test_a_replaced_log_is_rebuilt(tmp_path):
    log = write_log(tmp_path / "drift.log", LINES[:400])
    report.read_drift_log([log])
    other = write_log(tmp_path / "new.log", LINES[600:1100])
    os.replace(other, log)  # a new file (new inode) under the old name
    assert len(assert_same_as_cold([log])) == 500


def test_a_truncated_or_rewritten_log_is_rebuilt(tmp_path):
    log = write_log(tmp_path / "drift.log", LINES[:400])
    report.read_drift_log([log])
    with open(log, "r+") as f:  # copytruncate: the same file, emptied and written again
        f.truncate(0)
        f.write("\n".join(LINES[800:900]) + "\n")
    assert len(assert_same_as_cold([log])) == 100
    with open(log, "r+") as f:  # the same inode, longer than the cached part, other bytes before it
        f.truncate(0)
        f.write("\n".join(LINES[900:1200]) + "\n")
    assert len(assert_same_as_cold([log])) == 300


def test_rotated_logs_plain_and_gzip_read_as_one_and_keep_their_caches(tmp_path, decoded):
    log = write_log(tmp_path / "drift.log", LINES[:400])
    report.read_drift_log([log])
    os.rename(log, tmp_path / "drift.log.1")  # logrotate: the file keeps its inode, and so its cache
    with gzip.open(tmp_path / "drift.log.2.gz", "wt") as f:
        f.write("\n".join(LINES[400:700]) + "\n")
    write_log(log, LINES[700:900])
    decoded.clear()
    columns = assert_same_as_cold([str(tmp_path / "drift.log*")])
    assert columns.paths == [str(tmp_path / n) for n in ("drift.log", "drift.log.1", "drift.log.2.gz")]
    assert len(columns) == 900
    assert "drift.log.1" not in {name for name, _, _ in decoded[:2]}  # the renamed log came from its cache
    decoded.clear()
    report.read_drift_log([str(tmp_path / "drift.log*")])
    assert decoded == []  # the gzip file is cached whole too
    [venue] = report.summarise(columns).venues
    worst = {w.client_order_id for w in venue.worst}
    assert worst == {w.client_order_id for w in report.summarise(
        report.read_drift_log([write_log(tmp_path / "all.txt", LINES[:900])])).venues[0].worst}


def test_a_damaged_cache_is_not_believed(tmp_path):
    log = write_log(tmp_path / "drift.log", LINES[:500])
    report.read_drift_log([log])
    where = cache.folder(log.stat())
    with open(where / "drift_bps", "r+b") as f:
        f.truncate(100)  # fewer rows than meta.json says
    assert len(assert_same_as_cold([log])) == 500
    (where / "meta.json").write_text("{not json")
    assert len(assert_same_as_cold([log])) == 500
    meta = msgspec.json.decode((where / "meta.json").read_bytes())
    (where / "meta.json").write_text(json.dumps(meta | {"version": 0}))
    assert len(assert_same_as_cold([log])) == 500


def test_an_unwritable_cache_folder_only_costs_time(tmp_path, monkeypatch):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    log = write_log(tmp_path / "drift.log", LINES[:200])
    assert len(report.read_drift_log([log])) == 200


def test_cli_globs_quoted_and_unquoted_and_no_cache(tmp_path):
    write_log(tmp_path / "drift.log", LINES[:100])
    write_log(tmp_path / "drift.log.1", LINES[100:250])
    quoted = runner.invoke(app, ["drift-report", "--log", str(tmp_path / "drift.log*"), "--json", "--no-cache"])
    assert quoted.exit_code == 0, quoted.output
    assert json.loads(quoted.stdout)["fills"] == 250
    assert not cache.root().exists()  # --no-cache writes nothing
    # what the shell makes of an unquoted --log drift.log*: the first file an option value, the rest arguments
    shell = runner.invoke(app, ["drift-report", "--log", str(tmp_path / "drift.log"), str(tmp_path / "drift.log.1"),
                                "--json"])
    assert shell.exit_code == 0, shell.output
    assert json.loads(shell.stdout) == json.loads(quoted.stdout)
    assert cache.root().exists()
    none = runner.invoke(app, ["drift-report", "--log", str(tmp_path / "nothing*.log")])
    assert none.exit_code == 2
    assert none.stderr.startswith(f"error: no drift log matches {tmp_path / 'nothing*.log'}")


def test_a_log_named_twice_is_read_once(tmp_path):
    log = write_log(tmp_path / "drift.log", LINES[:100])
    os.link(log, tmp_path / "link.log")
    assert len(report.read_drift_log([log, str(tmp_path / "*.log")])) == 100


def test_a_broken_gzip_file_is_a_bad_file(tmp_path):
    path = tmp_path / "drift.log.2.gz"
    path.write_bytes(gzip.compress(("\n".join(LINES[:50]) + "\n").encode())[:-30])
    result = runner.invoke(app, ["drift-report", "--log", str(path)])
    assert result.exit_code == 2
    assert f"drift log {path}: not a readable gzip file" in result.stderr
