"""Errors that end a command, each carrying the exit code of the CLI contract (DESIGN.md), and `scrub`, which takes
every secret a profile resolved out of a message before anyone sees it."""


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


# {secret value: name of the variable it came from}, filled by every load_profile of this process (see scrub()).
_SECRET_VALUES: dict[str, str] = {}


def remember_secret(value: str, name: str) -> None:
    """Register a secret value (first name wins) so that scrub() hides it from every message from now on."""
    _SECRET_VALUES.setdefault(value, name)


def scrub(text: str) -> str:
    """`text` with every secret value a profile interpolated replaced by "the value of ${NAME}".

    Secret values are those of environment variables whose name contains KEY, SECRET, TOKEN, PASSWORD, PASS or
    ACCOUNT, and of any variable interpolated into api_key, api_secret or account_id. load_profile registers them
    (process-wide) and scrubs its own errors; anything that prints a message a profile value may have reached
    (the CLI's `error: ...` line, a log line) passes it through scrub() first.
    """
    for value in sorted(_SECRET_VALUES, key=len, reverse=True):
        if value in text:
            text = text.replace(value, f"the value of ${{{_SECRET_VALUES[value]}}}")
    return text
