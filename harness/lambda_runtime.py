"""A Lambda execution environment's runtime loop, for `harness/lambda_harness.py`.

Run as `python -I -S lambda_runtime.py TASK_DIR HANDLER`: a fresh interpreter that sees the
standard library and TASK_DIR (the unzipped deployment package) and nothing else, so it
uses only what the package ships. Like Lambda's Python runtime it imports the handler's
module once (the init phase), then calls the handler for one event at a time, with a
context object, for as long as it lives (a warm container).

Events come in on stdin, one JSON object a line; each answer goes out on the original
stdout, one JSON line: `{"result": ...}`, or `{"error": {...}}` for an exception the
handler let escape, as Lambda reports it. Whatever the code prints goes to stderr (the
function's log). The one event that is not Lambda's, the string "loaded modules outside
the package", answers which modules came from elsewhere. Standard library only: nothing
else is importable here.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import sysconfig
import time
import traceback
import uuid
from pathlib import Path
from typing import Any


class LambdaContext:
    """The context object Lambda passes to a handler (the attributes Python code reads)."""

    def __init__(self, deadline: float) -> None:
        name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "function")
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "stream")
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _outside_modules(task_dir: Path) -> list[str]:
    """Loaded modules that come from neither the package nor the standard library."""
    allowed = [task_dir.resolve()]
    for key in ("stdlib", "platstdlib"):
        allowed.append(Path(sysconfig.get_paths()[key]).resolve())
    outside = []
    for name, module in list(sys.modules.items()):
        if name == "__main__":  # this runtime itself
            continue
        origin = getattr(module, "__file__", None)
        if origin is None:
            continue
        path = Path(origin).resolve()
        if not any(path.is_relative_to(root) for root in allowed):
            outside.append(f"{name}: {path}")
    return sorted(outside)


def _writable(directory: str) -> bool:
    """Whether a file can be created in `directory` (it is removed again)."""
    probe = Path(directory) / f".lambda-runtime-probe-{os.getpid()}"
    try:
        probe.touch()
    except OSError:
        return False
    probe.unlink()
    return True


def main(task_dir: Path, handler_name: str) -> None:
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # the handler's prints go to the log, not into the protocol
    sys.stdout = sys.stderr
    sys.path.insert(0, str(task_dir))
    module_name, _, attribute = handler_name.rpartition(".")
    started = time.perf_counter()
    handler = getattr(importlib.import_module(module_name), attribute)
    init_ms = (time.perf_counter() - started) * 1000
    ready = {
        "ready": True,
        "init_ms": init_ms,
        "sys_path": sys.path,
        "flags": {"isolated": sys.flags.isolated, "no_site": sys.flags.no_site},
        "writable": {
            "task": _writable(str(task_dir)),
            "home": _writable(os.environ.get("HOME", "/")),
            "tmp": _writable(os.environ.get("TMPDIR", "/tmp")),
        },
        "outside_modules": _outside_modules(task_dir),
        "modules": {
            name: getattr(sys.modules.get(name), "__file__", None)
            for name in ("chalice", "chalice.app", "pydantic", "pydantic_core", "chalicelib")
        },
    }
    protocol.write(json.dumps(ready) + "\n")
    protocol.flush()
    timeout = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3"))
    for line in sys.stdin:
        event = json.loads(line)
        if event == "loaded modules outside the package":  # the harness asks, not Lambda
            protocol.write(json.dumps({"result": _outside_modules(task_dir)}) + "\n")
            protocol.flush()
            continue
        context = LambdaContext(time.monotonic() + timeout)
        started = time.perf_counter()
        try:
            answer: dict[str, Any] = {"result": handler(event, context)}
        except Exception as error:  # what Lambda reports for an unhandled exception
            answer = {
                "error": {
                    "errorMessage": str(error),
                    "errorType": type(error).__name__,
                    "stackTrace": traceback.format_tb(error.__traceback__),
                }
            }
            traceback.print_exc()
        answer["duration_ms"] = (time.perf_counter() - started) * 1000
        protocol.write(json.dumps(answer) + "\n")
        protocol.flush()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
