"""AccountLock: one live session per venue account, whatever the profile's name or folder (no node needed)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nautlive.config.profile import load_profile
from nautlive.errors import SafetyRefusal
from nautlive.session.safety import AccountLock, account_key, state_lock_dir

KEY = "KEYq8Zt3unique"
OTHER_KEY = "KEYw2Rm7another"


def write_profile(directory: Path, name: str, head: str, section: str, lock_dir: Path | None):
    """DIRECTORY/NAME.yaml written (the venue's lines, the live section with `lock_dir`, the adapter's section), loaded."""
    directory.mkdir(parents=True, exist_ok=True)
    live = f"live:\n  lock_dir: {lock_dir}\n" if lock_dir else ""
    path = directory / f"{name}.yaml"
    path.write_text(f"{head}catalog: none.yaml\n{live}{section}")
    return load_profile(profile=path)


def binance(directory: Path, name: str, key: str = KEY, extra: str = "", lock_dir: Path | None = None):
    return write_profile(directory, name,
                         "venue: BINANCE\nadapter: binance\ninstruments: [BTCUSDT.BINANCE]\nquote_currency: USDT\n",
                         f"binance:\n  api_key: {key}\n  api_secret: s3cr3t-value\n{extra}", lock_dir)


def ibkr(directory: Path, name: str, account: str, port: int = 4002, lock_dir: Path | None = None):
    return write_profile(directory, name,
                         "venue: INTERACTIVE_BROKERS\nadapter: ibkr\ninstruments: [AAPL.NASDAQ]\nquote_currency: USD\n",
                         f"ibkr:\n  port: {port}\n  account_id: {account}\n", lock_dir)


@pytest.fixture(autouse=True)
def state_home(tmp_path, monkeypatch):
    """Locks land in a tmp state folder, never in the user's own."""
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    return state


def test_same_account_under_two_names_collides(tmp_path):
    locks = tmp_path / "locks"
    first, second = binance(tmp_path, "mine", lock_dir=locks), binance(tmp_path, "copy", lock_dir=locks)
    with AccountLock(first):
        with pytest.raises(SafetyRefusal) as err:
            AccountLock(second).__enter__()
    assert f"pid {os.getpid()}" in str(err.value) and str(tmp_path / "mine.yaml") in str(err.value)
    assert err.value.exit_code == 4
    with AccountLock(second):  # released on exit
        pass


def test_copies_in_different_folders_share_the_state_folder_lock(tmp_path, state_home):
    first, second = binance(tmp_path / "a", "binance"), binance(tmp_path / "b" / "c", "other")
    with AccountLock(first) as lock:
        assert lock.path.parent == state_home / "nautlive" / "locks"
        with pytest.raises(SafetyRefusal, match="one session per account"):
            AccountLock(second).__enter__()


def test_trailing_slash_and_case_of_the_endpoint_are_the_same_account(tmp_path):
    first = binance(tmp_path, "a", extra="  base_url_http: https://API.binance.com/\n")
    second = binance(tmp_path, "b")  # no base_url_http: the mainnet default
    assert account_key(first) == account_key(second)


@pytest.mark.parametrize(
    ("extra_a", "key_b", "extra_b"),
    [("", OTHER_KEY, ""),  # another key
     ("", KEY, "  testnet: true\n"),  # the testnet's default endpoint
     ("  base_url_http: http://127.0.0.1:8765\n", KEY, "  base_url_http: http://127.0.0.1:8766\n")],
)
def test_other_accounts_do_not_collide(tmp_path, extra_a, key_b, extra_b):
    first = binance(tmp_path / "a", "p", extra=extra_a)
    second = binance(tmp_path / "b", "p", key=key_b, extra=extra_b)
    with AccountLock(first), AccountLock(second):
        pass


def test_ibkr_lock_is_per_host_port_and_account(tmp_path):
    paper = ibkr(tmp_path / "a", "paper", "DU1234567")
    copy = ibkr(tmp_path / "b", "copy", "DU1234567")
    with AccountLock(paper):
        with pytest.raises(SafetyRefusal) as err:
            AccountLock(copy).__enter__()
        with AccountLock(ibkr(tmp_path / "c", "other", "DU7654321")), AccountLock(
                ibkr(tmp_path / "d", "live", "DU1234567", port=4001)):
            pass
    assert "DU1234567" not in str(err.value)


def test_no_secret_in_lock_path_file_or_message(tmp_path):
    first, second = binance(tmp_path / "a", "p"), binance(tmp_path / "b", "q")
    with AccountLock(first) as lock:
        with pytest.raises(SafetyRefusal) as err:
            AccountLock(second).__enter__()
        content = lock.path.read_text()
    for text in (str(lock.path), str(err.value), content):
        assert KEY not in text and "s3cr3t" not in text and account_key(first) not in text
    assert KEY[:8] not in lock.path.name
    assert content == f"pid {os.getpid()}\nprofile {tmp_path / 'a' / 'p.yaml'}\n"


def test_xdg_state_home_and_home_fallback(tmp_path, monkeypatch, state_home):
    assert state_lock_dir() == state_home / "nautlive" / "locks"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert state_lock_dir() == tmp_path / "home" / ".local" / "state" / "nautlive" / "locks"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/state")  # the XDG spec: a relative path is ignored
    assert state_lock_dir() == tmp_path / "home" / ".local" / "state" / "nautlive" / "locks"
    with AccountLock(binance(tmp_path, "p")) as lock:
        assert lock.path.parent == tmp_path / "home" / ".local" / "state" / "nautlive" / "locks"


def test_relative_lock_dir_is_relative_to_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with AccountLock(binance(tmp_path, "p", lock_dir=Path("my-locks"))) as lock:
        assert (tmp_path / "my-locks").is_dir() and lock.path.resolve().parent == tmp_path / "my-locks"


HOLDER = textwrap.dedent("""
    import sys, time
    from nautlive.config.profile import load_profile
    from nautlive.session.safety import AccountLock
    with AccountLock(load_profile(profile=sys.argv[1])):
        print("locked", flush=True)
        time.sleep(120)
""")


def test_another_process_holding_the_lock_refuses_until_it_dies(tmp_path):
    other_folder = binance(tmp_path / "other", "binance")
    mine = binance(tmp_path / "mine", "renamed")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, other_folder.source], stdout=subprocess.PIPE, text=True,
                              env=os.environ.copy())
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(SafetyRefusal) as err:
            AccountLock(mine).__enter__()
        assert f"pid {holder.pid}" in str(err.value) and other_folder.source in str(err.value)
        assert KEY not in str(err.value)
    finally:
        holder.kill()
        holder.wait(10)
    with AccountLock(mine):  # the OS released the dead holder's lock
        pass


# -- the lock's folder -----------------------------------------------------------------------------------------------


def test_a_stale_lock_is_taken_over_with_one_line_naming_the_dead_pid(tmp_path):
    profile = binance(tmp_path, "p", lock_dir=tmp_path / "locks")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(30)
    lock = AccountLock(profile, say=(said := []).append)
    lock.path.parent.mkdir(parents=True)
    lock.path.write_text(f"pid {dead.pid}\nprofile /old/binance.yaml\n")  # kill -9 left it so
    with lock:
        assert lock.path.read_text().startswith(f"pid {os.getpid()}\n")
    assert said == [f"taking over the stale lock {lock.path}: its holder (pid {dead.pid} (no longer running), "
                    "profile /old/binance.yaml) ended without releasing it"]
    with AccountLock(profile, say=(again := []).append):  # the clean exit above emptied the file: nothing to say
        pass
    assert again == [] and lock.path.read_text() == ""


@pytest.mark.parametrize("blocked", ["state", "nautlive", "locks"])
def test_a_file_in_the_way_of_the_state_folder_is_one_config_error_naming_it(tmp_path, state_home, blocked):
    in_the_way = {"state": state_home, "nautlive": state_home / "nautlive",
                  "locks": state_home / "nautlive" / "locks"}[blocked]
    in_the_way.parent.mkdir(parents=True, exist_ok=True)
    in_the_way.write_text("not a folder")
    from nautlive.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        AccountLock(binance(tmp_path, "p")).__enter__()
    assert err.value.exit_code == 2
    assert str(err.value) == (f"state folder {state_home / 'nautlive' / 'locks'}: a file is in the way "
                              f"({in_the_way} is not a folder)")


READ_ONLY_LOCK = textwrap.dedent("""
    import sys
    from nautlive.errors import ConfigError
    from nautlive.config.profile import load_profile
    from nautlive.session.safety import AccountLock
    try:
        AccountLock(load_profile(profile=sys.argv[1])).__enter__()
    except ConfigError as exc:
        print(exc, exc.exit_code)
""")


def test_a_read_only_state_folder_is_one_config_error_naming_it(tmp_path, state_home):
    from tests.fs_faults import without_root_override

    locks = state_home / "nautlive" / "locks"
    locks.mkdir(parents=True)
    locks.chmod(0o555)
    try:
        done = subprocess.run([sys.executable, "-c", READ_ONLY_LOCK, binance(tmp_path, "p").source],
                              capture_output=True, text=True, timeout=60, preexec_fn=without_root_override,
                              env=os.environ.copy())
    finally:
        locks.chmod(0o755)
    assert done.stdout == f"state folder {locks}: not writable (permission denied) 2\n", done.stderr
