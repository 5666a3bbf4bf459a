"""Errors that end a command, each carrying the exit code of the CLI contract (DESIGN.md)."""


class NautliveError(Exception):
    """Base: a failure the CLI reports as one line on stderr with `exit_code`."""

    exit_code = 1


class RuntimeFailure(NautliveError):
    """Venue unreachable, orders rejected or unfilled."""

    exit_code = 1


class ConfigError(NautliveError):
    """Bad profile, bad file, missing key: a usage or configuration error."""

    exit_code = 2


class ReconcileBlocked(NautliveError):
    """The catalog allows orders the venue would reject."""

    exit_code = 3


class SafetyRefusal(NautliveError):
    """Live not armed, kill switch present, or another session holds the lock."""

    exit_code = 4
