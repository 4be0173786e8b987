"""What torrentino's command lines share."""

from __future__ import annotations

import argparse
from pathlib import Path


def command_parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    """The parser of `python -m chalicelib.<module>`: its docstring as help, and `--db`."""
    parser = argparse.ArgumentParser(
        prog=f"python -m chalicelib.{module}",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--db", type=Path, help="SQLite file (default: TORRENTINO_DB_PATH)")
    return parser
