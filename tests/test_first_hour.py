"""What a new user meets in the first hour (issue 30, items 3 and 4): how to get `nautlive` on the PATH, the ib extra,
IB commands without it, one placeholder style in --help, a typo'd profile key."""

import importlib.util
import re
import subprocess

import pytest
from typer.testing import CliRunner

from nautlive.cli.app import app

from .conftest import REPO

runner = CliRunner()


@pytest.mark.parametrize("target", ["install", "demo"])
def test_make_says_how_to_put_nautlive_on_the_path(target):
    dry = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(REPO), target], capture_output=True, text=True, timeout=30)
    assert dry.returncode == 0, dry.stderr
    assert "source .venv/bin/activate" in dry.stdout.splitlines()[-1]


def test_the_readme_tells_a_pipx_user_about_the_ib_extra():
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(r'^ib = \["nautilus_trader\[ib\]==', pyproject, re.M)
    assert "pipx install 'nautlive[ib]'" in (REPO / "README.md").read_text()


@pytest.fixture
def without_ibapi(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ibapi" else real(name, *a))


@pytest.mark.parametrize("args", [["sim", "--venue", "ibkr"], ["live", "--venue", "ibkr-sim", "--arm", "--once"],
                                  ["shadow", "--venue", "ibkr-paper", "--once"], ["reconcile", "--venue", "ibkr-sim"],
                                  ["data", "download", "--venue", "ibkr-sim", "--start", "2024-01-01"]])
def test_an_ib_command_without_the_ib_extra_ends_in_one_line(without_ibapi, repo_cwd, args):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: Interactive Brokers needs")
    assert "pipx install 'nautlive[ib]'" in result.stderr and "pip install 'nautlive[ib]'" in result.stderr


def test_only_ib_profiles_need_the_ib_extra(without_ibapi, repo_cwd):
    from nautlive.cli.app import _load_profile, require_ib_extra

    require_ib_extra(_load_profile("binance", None)[0])  # not IB: nothing to say
    with pytest.raises(Exception, match="ib extra"):
        require_ib_extra(_load_profile("ibkr-paper", None)[0])


def _command_paths(command, prefix=()):
    for name, sub in getattr(command, "commands", {}).items():
        yield (*prefix, name)
        yield from _command_paths(sub, (*prefix, name))


def test_every_help_uses_one_placeholder_style():
    import typer

    paths = [(), *_command_paths(typer.main.get_command(app))]
    assert len(paths) > 12
    seen = set()
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], terminal_width=200)
        assert result.exit_code == 0, (path, result.output)
        usage = result.stdout.split("\n", 1)[0]
        assert "<" not in usage and "[OPTIONS]" in usage, usage
        options_part = result.stdout.partition("Options:")[2]  # not the examples of the command's text
        for line in options_part.splitlines():
            option = re.match(r"\s{2}(--[\w-]+(?:, --[\w-]+)*) (\S+)\s", line)
            if option and not option.group(2)[0].isupper() and option.group(2) != "[":
                raise AssertionError(f"{' '.join(path)}: {line.strip()}")
            if option:
                seen.add(option.group(2))
            assert not re.search(r"<(str|path|int|float)", line), (path, line)
    assert {"NAME", "PATH", "DIR", "ISO", "SECONDS", "BPS"} <= seen and all(re.fullmatch(r"[A-Z]+", m) for m in seen), seen


@pytest.mark.parametrize(("yaml_text", "expected"), [
    ("rebalance:\n  bnad: '0.01'\n", "rebalance.bnad: unknown key (did you mean rebalance.band?)"),
    ("band: '0.01'\n", "band: unknown key (did you mean rebalance.band?)"),
    ("rebalanse:\n  band: 0.01\n", "rebalanse: unknown key (did you mean rebalance?)"),
    ("live:\n  stop_timout: 5\n", "live.stop_timeout?"),
    ("zzzz: 1\n", "zzzz: unknown key"),
])
def test_a_typod_profile_key_suggests_the_nearest_known_key(tmp_path, yaml_text, expected):
    from nautlive.config.profile import load_profile
    from nautlive.errors import ConfigError

    path = tmp_path / "typo.yaml"
    path.write_text("venue: BINANCE\nadapter: binance\ninstruments: [BTCUSDT.BINANCE]\n" + yaml_text)
    with pytest.raises(ConfigError) as err:
        load_profile(profile=path)
    assert expected in str(err.value) and str(err.value).count("\n") == 0
    if "zzzz" in yaml_text:
        assert "did you mean" not in str(err.value)
