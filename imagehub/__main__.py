"""`python -m imagehub` runs the CLI."""

from imagehub.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
