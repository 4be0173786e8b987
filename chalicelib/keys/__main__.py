"""`python -m chalicelib.keys`: the keys command line's older name, kept for the scripts and
crontabs written for it. The command lines live in `chalicelib.cli`."""

import sys

from chalicelib.cli import legacy

if __name__ == "__main__":
    sys.exit(legacy("keys"))
