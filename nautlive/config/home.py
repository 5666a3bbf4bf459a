"""The working folder ("home") and `nautlive init`.

One rule for paths: the working folder is `--home DIR`, else `$NAUTLIVE_HOME`, else the current folder. Profiles are
found in `<home>/profiles`; paths inside a profile (catalog, targets, drift log, kill switch, lock folder) resolve
against the home; paths given on the command line resolve against the current folder.

The shipped profiles, catalogs and example target files are package data (`nautlive/data/` in a wheel; the
repository's `profiles/` and `artifacts/` in a checkout). `nautlive init DIR` copies them into a new working folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from nautlive.errors import ConfigError

HOME_ENV = "NAUTLIVE_HOME"
ARM_ENV = "NAUTLIVE_ARM"  # arms LIVE without --arm (cron)
PATH_RULE = (
    "the working folder is --home DIR, else $NAUTLIVE_HOME, else the current folder; profiles are in "
    "<home>/profiles, paths inside a profile resolve against the home, paths on the command line against the "
    "current folder"
)
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_override: dict[str, str | None] = {"home": None}


def set_home(path: str | Path | None) -> None:
    """`--home DIR` (None: fall back to $NAUTLIVE_HOME, then the current folder)."""
    _override["home"] = str(path) if path is not None else None


def home() -> Path:
    """The working folder: `--home`, else $NAUTLIVE_HOME, else the current folder (as `.`, so paths stay short)."""
    chosen = _override["home"] or os.environ.get(HOME_ENV) or ""
    return Path(chosen) if chosen else Path(".")


def home_source() -> str:
    """Where the working folder came from, for messages."""
    if _override["home"]:
        return "--home"
    return f"${HOME_ENV}" if os.environ.get(HOME_ENV) else "the current folder"


def no_profiles_error(folder: Path) -> ConfigError:
    return ConfigError(
        f"no profiles here: run `nautlive init` to make this a working folder, or pass --home DIR "
        f"({folder.absolute()} does not exist; working folder from {home_source()})"
    )


def in_home(path: str | Path, base: Path | None = None) -> str:
    """A path from a profile, resolved against the working folder (unchanged when absolute or the home is `.`)."""
    base = home() if base is None else base
    path = Path(path)
    if path.is_absolute() or base == Path("."):
        return str(path)
    return str(base / path)


def resolve_profile_paths(profile, base: Path | None = None):  # noqa: ANN001, ANN201 - a VenueProfile
    """The profile with its relative paths (catalog, targets, drift_log, live.kill_switch, live.lock_dir) in the home."""
    import msgspec

    base = home() if base is None else base
    if base == Path(".") or base.absolute() == Path.cwd():
        return profile
    live = profile.live
    live_paths = {name: in_home(getattr(live, name), base) for name in ("kill_switch", "lock_dir")
                  if getattr(live, name, None)}
    return msgspec.structs.replace(
        profile,
        catalog=in_home(profile.catalog, base),
        targets=in_home(profile.targets, base),
        drift_log=in_home(profile.drift_log, base),
        live=msgspec.structs.replace(live, **live_paths),
    )


# -- package data -------------------------------------------------------------------------------------------------


def packaged(kind: str) -> Path:
    """A folder of shipped data: "profiles", "catalog" or "orders" (in the wheel, else in the checkout)."""
    package = Path(__file__).resolve().parents[1]
    wheel = package / "data" / kind
    if wheel.is_dir():
        return wheel
    checkout = package.parent / ("profiles" if kind == "profiles" else f"artifacts/{kind}")
    if checkout.is_dir():
        return checkout
    raise ConfigError(f"shipped {kind} not found in {package / 'data'}: a broken installation, reinstall nautlive")


# -- nautlive init -------------------------------------------------------------------------------------------------

NEXT_STEPS = """\
nautlive working folder: next steps

1. See the profiles:        nautlive profiles list
2. Try it offline:          nautlive shadow --venue binance --feed synthetic --once
   or the full demo:        nautlive demo
3. Put real keys in the environment (names in .env.example; never in a profile), e.g.
                            set -a; . ./.env; set +a
4. Your optimiser writes    artifacts/orders/target_weights.json  (weights are fractions of NAV: 0.5, not 50)
5. Rehearse live trading:   nautlive sim   (one terminal)
                            nautlive live --venue binance-sim --arm --once   (another)

Run nautlive from this folder, or from anywhere with --home {home} or NAUTLIVE_HOME={home}.
Paths inside a profile resolve against this folder; paths on the command line against the current folder.
"""


def env_example(profiles: list[Path]) -> str:
    """`.env.example`: every environment variable the profiles read, once, with the profiles that read it."""
    readers: dict[str, list[str]] = {}
    defaults: dict[str, str | None] = {}
    for path in sorted(profiles):
        for match in _ENV_REF.finditer(path.read_text()):
            name = match.group(1)
            if path.stem not in readers.setdefault(name, []):
                readers[name].append(path.stem)
            defaults.setdefault(name, match.group(2))
    lines = ["# Environment variables the profiles read. Copy to .env, fill in what you use, and load it before",
             "# running nautlive (`set -a; . ./.env; set +a`, or systemd's EnvironmentFile=). Never commit real keys.",
             "# A variable with a default is commented out: an empty value would replace the default.", "",
             "# arms live trading for cron like --arm: 1, true or yes", f"# {ARM_ENV}=1", ""]
    for name, used_by in readers.items():
        default = defaults[name]
        lines.append(f"# read by {', '.join(used_by)}" + (f"; default {default}" if default else ""))
        lines.append(f"# {name}={default}" if default else f"{name}=")
    return "\n".join(lines) + "\n"


def init_files() -> dict[str, bytes]:
    """What `nautlive init` writes: relative path -> content."""
    files: dict[str, bytes] = {}
    profile_files = sorted(packaged("profiles").glob("*.yaml"))
    for path in profile_files:
        files[f"profiles/{path.name}"] = path.read_bytes()
    for path in sorted(packaged("catalog").glob("*.yaml")):
        files[f"artifacts/catalog/{path.name}"] = path.read_bytes()
    for path in sorted([*packaged("orders").glob("*.json"), *packaged("orders").glob("*.csv")]):
        files[f"artifacts/orders/{path.name}"] = path.read_bytes()
    files[".env.example"] = env_example(profile_files).encode()
    return files


def init_home(folder: Path, force: bool = False) -> list[tuple[str, str]]:
    """Write a working folder; refuses to overwrite a changed file unless `force`. Returns (path, what happened)."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder}: exists and is not a folder")
    files = init_files()
    files["NEXT-STEPS.txt"] = NEXT_STEPS.format(home=folder.absolute()).encode()
    existing = {rel: folder / rel for rel in files if (folder / rel).exists()}
    changed = [rel for rel, path in existing.items() if not path.is_file() or path.read_bytes() != files[rel]]
    if changed and not force:
        shown = ", ".join(str(folder / rel) for rel in changed[:4]) + (" ..." if len(changed) > 4 else "")
        raise ConfigError(f"{len(changed)} file(s) already exist with other content: {shown}; nothing written "
                          "(pass --force to overwrite them)")
    done = []
    for rel, content in files.items():
        path = folder / rel
        if rel in existing and rel not in changed:
            done.append((str(path), "unchanged"))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise ConfigError(f"{path}: is a folder, cannot overwrite it with a file")
        path.write_bytes(content)
        done.append((str(path), "overwrote" if rel in existing else "wrote"))
    return done
