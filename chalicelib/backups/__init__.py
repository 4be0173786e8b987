"""Backups and restore: snapshots, their files and manifests, verifying, restoring, the schedule."""
