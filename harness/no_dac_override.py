"""Run a command unable to override file permissions, even as root.

`chmod a-w` does not stop root, whose CAP_DAC_OVERRIDE ignores permission bits. This
drops that capability (and CAP_DAC_READ_SEARCH) from the bounding set before `exec`, so
the command, though still root, meets a read-only file as any user would. For anyone
else it just runs the command. Usage: python no_dac_override.py COMMAND [ARG...]
"""

from __future__ import annotations

import ctypes
import os
import sys

PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2


def drop_permission_overrides() -> None:
    """Remove root's power to ignore file permissions from this process and its children."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"prctl(PR_CAPBSET_DROP, {capability}): {os.strerror(errno)}")


if __name__ == "__main__":
    if os.geteuid() == 0:
        drop_permission_overrides()
    os.execv(sys.argv[1], sys.argv[1:])
