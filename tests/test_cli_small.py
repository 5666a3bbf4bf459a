"""What a cron user meets at the edges of the CLI: Ctrl-C, which profile a session loaded, help that names defaults."""

from __future__ import annotations

import gzip
import json
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nautlive.cli.app import app
from nautlive.errors import NautliveError
from tests.conftest import REPO, shared_file

runner = CliRunner()
BTC, ETH = "BTCUSDT.BINANCE", "ETHUSDT.BINANCE"


def nautlive(*args: str, cwd: Path = REPO, env: dict | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nautlive", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}, **kw)


@pytest.mark.slow
def test_ctrl_c_on_a_session_prints_interrupted_not_an_error_and_exits_130(tmp_path):
    targets = tmp_path / "t.json"
    targets.write_text(json.dumps({"weights": {BTC: 0.5, ETH: 0.3}}))
    proc = nautlive("shadow", "--venue", "binance", "--feed", "synthetic", "--targets", str(targets),
                    "--drift-log", str(tmp_path / "drift.log"))
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while not any(line.startswith("rebalance ") for line in seen):  # started: the first rebalance is logged
            assert time.monotonic() < deadline, seen
            try:
                seen.append(lines.get(timeout=1))
            except queue.Empty:
                assert proc.poll() is None, seen
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        reader.join(timeout=5)
    finally:
        proc.kill()
        proc.stdout.close()
    seen.extend(lines.queue)
    assert proc.returncode == 130, seen
    assert seen[-1] == "interrupted\n", seen
    assert not any(line.startswith("error:") for line in seen), seen


def test_a_session_first_says_which_profile_it_loaded_and_from_where(repo_cwd, tmp_path):
    result = runner.invoke(app, ["shadow", "--once", "--targets", str(tmp_path / "none.json")])
    assert result.stderr.splitlines()[0] == "profile binance (profiles/binance.yaml)"
    custom = tmp_path / "mine.yaml"
    custom.write_text((REPO / "profiles" / "binance-sim.yaml").read_text())
    result = runner.invoke(app, ["live", "--profile", str(custom), "--once"])
    assert result.stderr.splitlines()[0] == f"profile mine ({custom})"


@pytest.mark.parametrize("command", ["shadow", "live", "backtest", "parity", "reconcile"])
def test_help_names_the_default_profile(command):
    result = runner.invoke(app, [command, "--help"], terminal_width=200)
    assert "Default: binance" in " ".join(result.stdout.split()), result.stdout


def test_sim_help_names_its_default_profile():
    result = runner.invoke(app, ["sim", "--help"], terminal_width=200)
    assert "Default: binance-sim" in " ".join(result.stdout.split()), result.stdout


# -- issue 14: the newcomer's findings -------------------------------------------------------------------------------

INPUT_OPTIONS = {"--data", "--from-file", "--schedule", "--targets", "--exchange-info", "--replay", "--profile",
                 "--catalog"}


def _readme_examples(root: Path = REPO) -> list[str]:
    examples, in_block = [], False
    for raw in (root / "README.md").read_text().splitlines():
        if raw.startswith("```"):
            in_block = not in_block
            continue
        text = raw.removeprefix("$ ").strip()
        if in_block and (text.startswith("nautlive ") or re.match(r"^[A-Z_]+=\S+ nautlive ", text)):
            examples.append(text)
    return examples


def _readme_outputs(root: Path = REPO) -> set[str]:
    text = (root / "README.md").read_text()
    return set(re.findall(r"--out (\S+)", text)) | set(re.findall(r"^\$ cp \S+ (\S+)$", text, re.MULTILINE))


def _help_examples() -> list[str]:
    import typer.main

    examples = []
    root = typer.main.get_command(app)
    commands = list(root.commands.values())
    for group in [c for c in commands if hasattr(c, "commands")]:
        commands += list(group.commands.values())
    for command in commands:
        for paragraph in (command.help or "").split("\n\n"):
            for part in re.split(r" · |&&", " ".join(paragraph.split())):
                if "nautlive " in part:
                    examples.append("nautlive " + part.split("nautlive ", 1)[1])
    return examples


def _written_by(example: str) -> str | None:
    """The folder an example's `data download` or `record` writes (its --out, else the default under data/)."""
    tokens = shlex.split(example.split(" | ")[0].split(" # ")[0])
    tokens = tokens[tokens.index("nautlive") + 1:]
    if tokens[:2] != ["data", "download"] and tokens[:1] != ["record"]:
        return None
    return tokens[tokens.index("--out") + 1] if "--out" in tokens else "data/"


def _check_example(example: str, root: Path = REPO, written: tuple[str, ...] = ()) -> list[str]:
    """What in an example would not run from a fresh clone at `root`: missing input files (../shared/ included: a
    clone has none beside it) unless an earlier example's download or recording writes them, unknown profiles."""
    tokens = shlex.split(example.split(" | ")[0].split(" # ")[0])
    tokens = tokens[tokens.index("nautlive") + 1:]
    problems = []
    inputs = []
    for option, value in zip(tokens, tokens[1:], strict=False):
        if option in INPUT_OPTIONS:
            inputs.append(value)
        elif option == "--feed" and value.startswith("replay:"):
            inputs += value.removeprefix("replay:").split(",")
        elif option == "--venue" and tokens[0] != "drift-report" and (tokens[0], value) != ("sim", "ibkr") and not (
                root / "profiles" / f"{value}.yaml").is_file():  # `sim --venue ibkr` is the ibkr-sim profile (#16)
            problems.append(f"no profile {value}")
    for path in inputs:
        if path.startswith("../"):
            problems.append(f"{path} is outside the repository: a fresh clone lacks it (use examples/data/)")
        elif path in _readme_outputs(root):  # written by a command before it (`--out PATH`, `cp FROM PATH`)
            continue
        elif not (root / path).exists() and not path.startswith(("artifacts/demo/", *written)):  # written first
            problems.append(f"{path} does not exist")
    return problems


def _fresh_clone(into: Path) -> Path:
    """The repository's files (tracked, and new ones not ignored) copied to `into/repo`, with no ../shared beside."""
    import shutil

    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    clone = into / "repo"
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file() and not source.is_symlink():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    assert not (into / "shared").exists()
    return clone


def test_every_example_in_the_readme_and_the_help_runs_as_written_from_the_repository():
    readme, helps = _readme_examples(), _help_examples()
    assert len(readme) > 15 and len(helps) > 8, (readme, helps)
    assert any("replay:examples/data/" in e for e in readme + helps)
    assert not _broken(readme + helps)


def _broken(examples: list[str], root: Path = REPO) -> dict[str, list[str]]:
    """The examples that would not run, in order: files an earlier `data download` or `record` wrote count."""
    written: list[str] = []
    broken = {}
    for example in examples:
        if problems := _check_example(example, root, tuple(written)):
            broken[example] = problems
        if folder := _written_by(example):
            written.append(folder.rstrip("/") + "/")
    return broken


@pytest.mark.slow
def test_readme_examples_run_from_a_fresh_clone_with_no_shared_data_beside_it(tmp_path):
    clone = _fresh_clone(tmp_path)
    assert not _broken(_readme_examples(clone) + _help_examples(), clone)
    env = {"NAUTLIVE_SHARED_DATA": str(tmp_path / "no-shared"), "PYTHONPATH": str(clone)}
    for example, code, last in [
        ("nautlive reconcile --venue binance --from-file examples/data/binance_spot_exchange_info_2022-11-28.json", 3,
         "2 instruments checked: 2 blocking, 0 warnings, 2 info"),
        ("nautlive backtest --venue binance --data examples/data/BTCUSDT-1m.parquet --data "
         "examples/data/ETHUSDT-1m.parquet --schedule artifacts/orders/weekly.example.csv --out out", 0,
         "wrote out/fills.jsonl, out/summary.json and out/equity.csv"),
    ]:
        assert example in _readme_examples(clone) or example.replace("--out out", "--out /tmp/btw --html "
                                                                     "/tmp/btw/tearsheet.html") in _readme_examples(clone)
        proc = nautlive(*shlex.split(example)[1:], cwd=clone, env=env)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == code, err
        assert out.splitlines()[-1] == last, out


def test_commands_are_listed_in_workflow_order_with_whole_summaries():
    result = runner.invoke(app, ["--help"], terminal_width=80)
    listing = result.stdout.split("Commands:")[1].splitlines()
    names = [line.split()[0] for line in listing if line.startswith("  ") and not line.startswith("   ")]
    assert names == ["init", "demo", "reconcile", "catalog", "data", "record", "backtest", "parity", "shadow", "live",
                     "drift-report", "sim", "profiles", "alerts"]
    assert not any("..." in line for line in listing)
    assert all(line.startswith("  ") and not line.startswith("   ") for line in listing if line.strip()), listing


def test_profiles_show_takes_venue_and_no_command_takes_v(repo_cwd):
    by_venue = runner.invoke(app, ["profiles", "show", "--venue", "binance-sim"])
    assert by_venue.exit_code == 0 and by_venue.stdout == runner.invoke(app, ["profiles", "show", "binance-sim"]).stdout
    assert "venue: BINANCE" in by_venue.stdout
    short = runner.invoke(app, ["shadow", "-v", "binance", "--once"])
    assert short.exit_code == 2 and "No such option: -v" in short.stderr


def test_outside_a_working_folder_commands_say_run_init(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NAUTLIVE_HOME", raising=False)
    for args in (["shadow", "--once"], ["profiles", "list"], ["reconcile", "--venue", "binance"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith("error: no profiles here: run `nautlive init`"), result.stderr
        assert str(tmp_path / "profiles") in result.stderr


def test_init_writes_a_working_folder_and_refuses_to_overwrite_without_force(tmp_path):
    ws = tmp_path / "ws"
    result = runner.invoke(app, ["init", str(ws)])
    assert result.exit_code == 0, result.output
    for rel in ("profiles/binance.yaml", "profiles/ibkr-paper.yaml", "artifacts/catalog/binance.yaml",
                "artifacts/orders/target_weights.json", "artifacts/orders/weekly.example.csv", ".env.example",
                "NEXT-STEPS.txt"):
        assert (ws / rel).is_file() and f"wrote {ws / rel}" in result.stdout
    env = (ws / ".env.example").read_text()
    for name in ("BINANCE_API_KEY=", "BINANCE_API_SECRET=", "BINANCE_TESTNET_API_KEY=", "TWS_ACCOUNT="):
        assert f"\n{name}\n" in env
    assert "# IB_GATEWAY_HOST=127.0.0.1" in env  # a default stays commented out: an empty value would replace it
    assert "nautlive profiles list" in result.stdout  # the next steps
    again = runner.invoke(app, ["init", str(ws)])
    assert again.exit_code == 0 and "wrote" not in again.stdout  # identical files are left alone
    (ws / "profiles" / "binance.yaml").write_text("# mine\n")
    refused = runner.invoke(app, ["init", str(ws)])
    assert refused.exit_code == 2 and "pass --force" in refused.stderr and "binance.yaml" in refused.stderr
    assert (ws / "profiles" / "binance.yaml").read_text() == "# mine\n"
    forced = runner.invoke(app, ["init", str(ws), "--force"])
    assert forced.exit_code == 0 and f"overwrote {ws / 'profiles' / 'binance.yaml'}" in forced.stdout
    assert (ws / "profiles" / "binance.yaml").read_bytes() == (REPO / "profiles" / "binance.yaml").read_bytes()


def test_home_option_and_env_find_profiles_and_resolve_profile_paths_against_the_home(tmp_path, monkeypatch):
    from nautlive.config.home import set_home

    ws = tmp_path / "ws"
    runner.invoke(app, ["init", str(ws)])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    try:
        listed = runner.invoke(app, ["--home", str(ws), "profiles", "list"])
        assert listed.exit_code == 0 and f"{ws}/profiles/binance.yaml" in listed.stdout
        shown = runner.invoke(app, ["--home", str(ws), "profiles", "show", "binance"])
        assert f"catalog: {ws}/artifacts/catalog/binance.yaml" in shown.stdout
        assert f"targets: {ws}/artifacts/orders/target_weights.json" in shown.stdout
        assert f"kill_switch: {ws}/artifacts/KILL" in shown.stdout
        monkeypatch.setenv("NAUTLIVE_HOME", str(ws))
        assert runner.invoke(app, ["profiles", "list"]).exit_code == 0
    finally:
        set_home(None)


def test_live_accepts_nautlive_arm_true_and_refuses_an_unknown_value(tmp_path, monkeypatch):
    from nautlive.config.home import set_home
    from nautlive.session.safety import arm_from_env

    for value, armed in (("1", True), ("true", True), ("YES", True), ("", False), ("0", None), ("ture", None)):
        monkeypatch.setenv("NAUTLIVE_ARM", value)
        if armed is None:
            with pytest.raises(NautliveError, match=f"NAUTLIVE_ARM='{value}' is not understood"):
                arm_from_env()
        else:
            assert arm_from_env() is armed
    ws = tmp_path / "ws"
    runner.invoke(app, ["init", str(ws)])
    (ws / "artifacts" / "KILL").touch()  # the profile's kill switch, found in the home: the run stops there
    try:
        monkeypatch.setenv("NAUTLIVE_ARM", "true")
        armed = runner.invoke(app, ["--home", str(ws), "live", "--venue", "binance-sim", "--once"])
        assert armed.exit_code == 4 and "kill switch" in armed.stderr and "not armed" not in armed.stderr
        monkeypatch.setenv("NAUTLIVE_ARM", "maybe")
        refused = runner.invoke(app, ["--home", str(ws), "live", "--venue", "binance-sim", "--once"])
        assert refused.exit_code == 4 and "NAUTLIVE_ARM='maybe' is not understood" in refused.stderr
    finally:
        set_home(None)


def test_once_without_a_target_file_exits_2(repo_cwd, tmp_path):
    result = runner.invoke(app, ["shadow", "--feed", "synthetic", "--once", "--targets", str(tmp_path / "t.json")])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == f"error: {tmp_path / 't.json'}: target file not found"


@pytest.mark.slow
def test_a_session_without_targets_says_it_waits_before_it_starts(tmp_path):
    summary = tmp_path / "summary.json"
    env = {"BINANCE_API_KEY": "", "BINANCE_API_SECRET": ""}
    proc = nautlive("shadow", "--venue", "binance", "--feed", "synthetic", "--targets", str(tmp_path / "later.json"),
                    "--drift-log", str(tmp_path / "drift.log"), "--duration", "1", "--summary", str(summary), env=env)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    lines = err.splitlines()
    assert lines[:2] == [
        "profile binance (profiles/binance.yaml)",
        f"waiting for the target file {tmp_path / 'later.json'}: nothing trades until it appears",
    ]
    assert f"wrote {summary}: the session summary (JSON)" in lines
    assert "last good target" not in err and json.loads(summary.read_text())["rebalances"] == []


@pytest.mark.slow
def test_sim_exits_130_on_ctrl_c_and_0_on_sigterm(repo_cwd):
    for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 0)):
        proc = nautlive("sim", "--port", "0")
        try:
            assert proc.stdout.readline().startswith("simulator listening on http://127.0.0.1:")
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
        assert proc.returncode == code, err
        assert ("interrupted" in err) == (code == 130) and "error:" not in err


def test_reconcile_write_patch_says_what_it_wrote(repo_cwd, tmp_path):
    capture = shared_file("binance", "exchange_info", "binance_spot_exchange_info_2022-11-28.json")
    patch = tmp_path / "patched.yaml"
    result = runner.invoke(app, ["reconcile", "--venue", "binance", "--from-file", str(capture), "--write-patch",
                                 str(patch)])
    assert result.exit_code == 3 and patch.is_file()
    assert f"wrote {patch}: the catalog with the venue's values (2 instruments)" in result.stdout
    as_json = runner.invoke(app, ["reconcile", "--venue", "binance", "--from-file", str(capture), "--write-patch",
                                  str(patch), "--json"])
    assert json.loads(as_json.stdout)["blocking"] == 2 and f"wrote {patch}" in as_json.stderr


def test_a_plain_recording_reads_like_its_gzip(tmp_path):
    from nautlive.data.recorded import read_lines

    gz = shared_file("binance", "market", "btcusdt_20240808.gz")
    plain = tmp_path / "btcusdt_20240808.txt"
    plain.write_bytes(gzip.decompress(gz.read_bytes()))
    renamed = tmp_path / "btcusdt_20240808.rec"  # gzip content under another name: sniffed, not guessed
    renamed.write_bytes(gz.read_bytes())
    assert read_lines(plain) == read_lines(gz) == read_lines(renamed)


def test_demo_outside_a_working_folder_writes_one_from_the_shipped_data(tmp_path, monkeypatch):
    from nautlive.cli import demo

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NAUTLIVE_HOME", raising=False)
    folder = demo.working_folder()
    assert folder == Path("nautlive-demo") and (tmp_path / "nautlive-demo" / "profiles" / "binance.yaml").is_file()
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "binance.yaml").write_text("x")
    assert demo.working_folder() == Path(".")
