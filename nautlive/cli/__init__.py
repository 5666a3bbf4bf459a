"""The `nautlive` command line (app.py); `nautlive.cli:main` stays the console entry point it always was."""


def main() -> None:
    from nautlive.cli.app import main as run

    run()
