"""torrentino's benchmark suite: `make bench` (python -m bench) prints one table."""
