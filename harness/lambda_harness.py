"""Run the deployment package the way AWS Lambda and API Gateway run it, without AWS: for
the Lambda-shaped tests (tests/deploy/) and the cold-start benchmark.

* `build_package(stage, out_dir)`: `make package STAGE=...` (Chalice's own `chalice
  package`), and the zip unzipped into a read-only task directory, as Lambda's /var/task.
* `Container`: one execution environment: a fresh `python -I -S` that sees the task
  directory and the standard library only (`harness/lambda_runtime.py`), runs the handler
  the template names, one event at a time, with HOME unwritable and, when run as root,
  without root's power to ignore file permissions. The template's environment is set;
  its EFS mount path is mapped onto a local directory.
* `ApiGateway`: API Gateway's REST API in front of a container, as the template configures
  it: routes matched as its swagger says (an unknown path or method never reaches the
  function), v1 proxy events with `multiValueHeaders` and
  `multiValueQueryStringParameters`, the stage in the path of its own URL, none behind a
  custom domain (or its base path), and its gateway responses.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

PROJECT_DIR = Path(__file__).resolve().parents[1]
RUNTIME = PROJECT_DIR / "harness" / "lambda_runtime.py"
# Drops CAP_DAC_OVERRIDE before exec, so root meets read-only files as anyone would.
WITHOUT_OVERRIDES = PROJECT_DIR / "harness" / "no_dac_override.py"
# The interpreter itself, not the virtualenv's launcher: with -I -S nothing of the venv shows.
BASE_PYTHON = os.path.realpath(sys.executable)
API_GATEWAY_PAYLOAD_LIMIT = 10 * 1024 * 1024
# A synchronous invocation's response, as JSON: Lambda refuses a larger one, and API
# Gateway answers 502.
LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024
API_ID = "a1b2c3d4e5"


@dataclass(frozen=True)
class Package:
    """A built deployment package: the template, the zip, and the unzipped task directory."""

    template: dict[str, Any]
    zip_path: Path
    task_dir: Path

    def function(self, logical_id: str) -> dict[str, Any]:
        """The properties of one function resource of the template."""
        properties: dict[str, Any] = self.template["Resources"][logical_id]["Properties"]
        return properties

    @property
    def api(self) -> dict[str, Any]:
        """The REST API's swagger document, as API Gateway receives it."""
        definition: dict[str, Any] = self.template["Resources"]["RestAPI"]["Properties"][
            "DefinitionBody"
        ]
        return definition

    @property
    def stage(self) -> str:
        return str(self.template["Resources"]["RestAPI"]["Properties"]["StageName"])


def _make_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}


def build_package(stage: str, out_dir: Path) -> Package:
    """`make package STAGE=stage` into `out_dir`, unzipped read-only into `out_dir`/task."""
    result = subprocess.run(
        ["make", "--no-print-directory", "package", f"STAGE={stage}", f"PACKAGE_DIR={out_dir}"],
        cwd=PROJECT_DIR,
        env=_make_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"make package failed:\n{result.stdout}\n{result.stderr}")
    task_dir = out_dir / "task"
    if task_dir.exists():
        shutil.rmtree(task_dir)
    with zipfile.ZipFile(out_dir / "deployment.zip") as archive:
        archive.extractall(task_dir)
    for path in [task_dir, *task_dir.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    template = json.loads((out_dir / "sam.json").read_text())
    return Package(template, out_dir / "deployment.zip", task_dir)


class Container:
    """One Lambda execution environment for one function of the package."""

    def __init__(
        self,
        package: Package,
        function: str,
        *,
        mount_dir: Path,
        workdir: Path,
        name: str = "container",
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.package = package
        self.properties = package.function(function)
        self.handler = str(self.properties["Handler"])
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.env = self._environment(function, mount_dir, name, extra_env or {})
        self.process: subprocess.Popen[str] | None = None
        self.ready: dict[str, Any] = {}
        self.started_at = 0.0

    def _environment(
        self, function: str, mount_dir: Path, name: str, extra: dict[str, str]
    ) -> dict[str, str]:
        home = self.workdir / "home"
        tmp = self.workdir / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        home.mkdir(parents=True, exist_ok=True)
        home.chmod(0o555)  # Lambda's HOME is not writable
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "HOME": str(home),
            "TMPDIR": str(tmp),
            "LAMBDA_TASK_ROOT": str(self.package.task_dir),
            "AWS_REGION": "us-east-1",
            "AWS_LAMBDA_FUNCTION_NAME": f"torrentino-{function}",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.properties.get("MemorySize", 128)),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(self.properties.get("Timeout", 3)),
            "AWS_LAMBDA_LOG_STREAM_NAME": f"2025/01/01/[$LATEST]{name}",
        }
        mounts = self.properties.get("FileSystemConfigs", [])
        variables = self.properties.get("Environment", {}).get("Variables", {})
        for key, value in variables.items():
            mapped = str(value)
            for mount in mounts:  # the EFS mount path, mapped onto a local directory
                mapped = mapped.replace(mount["LocalMountPath"], str(mount_dir), 1)
            env[key] = mapped
        env.update(extra)
        return env

    def start(self, timeout: float = 120.0) -> Container:
        """Start the environment and run its init phase (the handler module's import)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("a")
        command = [BASE_PYTHON, "-I", "-S", str(RUNTIME), str(self.package.task_dir)]
        self.started_at = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, str(WITHOUT_OVERRIDES), *command, self.handler],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=self.env,
            cwd=self.package.task_dir,
            text=True,
        )
        log.close()
        self.ready = self._read(timeout)
        return self

    def _read(self, timeout: float) -> dict[str, Any]:
        assert self.process is not None and self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            self.stop()
            raise RuntimeError(f"the container gave no answer:\n{self.log()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def invoke(self, event: Any, timeout: float = 120.0) -> dict[str, Any]:
        """Call the handler with one event: `{"result": ...}` or `{"error": ...}`."""
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(json.dumps(event) + "\n")
        self.process.stdin.flush()
        return self._read(timeout)

    def modules_outside_the_package(self) -> list[str]:
        """Modules loaded so far from anywhere but the package and the standard library."""
        outside: list[str] = self.invoke("loaded modules outside the package")["result"]
        return outside

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> Container:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class GatewayResponse:
    """What the client receives from API Gateway."""

    status: int
    headers: dict[str, list[str]]
    body: str
    invoked: bool  # whether the request reached the function at all

    def header(self, name: str) -> str | None:
        """A header's last value, by case-insensitive name."""
        for key, values in self.headers.items():
            if key.lower() == name.lower() and values:
                return values[-1]
        return None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class ApiGateway:
    """API Gateway's REST API in front of one container (see the module docstring).

    `prefix` is what stands before the API's own paths in the client's URL: `/<stage>` on
    the execute-api host, nothing or a base path on a custom domain.
    """

    package: Package
    container: Container
    host: str
    prefix: str
    user_agent: str = "lambda-harness"
    requests: list[dict[str, Any]] = field(default_factory=list)
    # Sent as X-Api-Key with every request that brings no key of its own.
    api_key: str | None = None

    @classmethod
    def execute_api(
        cls, package: Package, container: Container, api_key: str | None = None
    ) -> ApiGateway:
        """The API's own URL: https://<id>.execute-api.<region>.amazonaws.com/<stage>/..."""
        host = f"{API_ID}.execute-api.us-east-1.amazonaws.com"
        return cls(package, container, host, f"/{package.stage}", api_key=api_key)

    @classmethod
    def custom_domain(
        cls,
        package: Package,
        container: Container,
        base_path: str = "",
        api_key: str | None = None,
    ) -> ApiGateway:
        """A custom domain whose base path mapping (none: its root) points at the stage."""
        prefix = f"/{base_path}" if base_path else ""
        return cls(package, container, "tickets.example.com", prefix, api_key=api_key)

    def url(self, path: str) -> str:
        """The path a client uses for one of the API's own paths (`/api/v1/...`)."""
        return self.prefix + path

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str | list[str]] | None = None,
        json_body: Any = None,
        body: str | None = None,
    ) -> GatewayResponse:
        """Send a request as a client would (`url` is the path and query it asks for)."""
        multi = {k: [v] if isinstance(v, str) else list(v) for k, v in (headers or {}).items()}
        given = {name.lower() for name in multi}
        if self.api_key and not given & {"authorization", "x-api-key"}:
            multi["X-Api-Key"] = [self.api_key]
        if json_body is not None:
            body = json.dumps(json_body)
            multi.setdefault("Content-Type", ["application/json"])
        if body is not None and len(body.encode()) > API_GATEWAY_PAYLOAD_LIMIT:
            return self._refusal("REQUEST_TOO_LARGE", 413, "Request Too Long")
        parts = urlsplit(url)
        if not (parts.path == self.prefix or parts.path.startswith(self.prefix + "/")):
            return GatewayResponse(403, _json_headers(), '{"message":"Forbidden"}', False)
        resource_path = parts.path[len(self.prefix) :] or "/"
        route = self._match(method, resource_path)
        if route is None:
            return self._refusal(
                "MISSING_AUTHENTICATION_TOKEN", 403, "Missing Authentication Token"
            )
        resource, path_parameters = route
        event = self._event(method, parts.path, resource_path, resource, path_parameters)
        event.update(self._headers_and_query(multi, parts.query))
        event["body"], event["isBase64Encoded"] = self._body(body, multi)
        self.requests.append(event)
        return self._response(self.container.invoke(event))

    def _match(self, method: str, path: str) -> tuple[str, dict[str, str]] | None:
        segments = [s for s in path.split("/") if s]
        for resource, operations in self.package.api["paths"].items():
            template = [s for s in resource.split("/") if s]
            if len(template) != len(segments) or method.lower() not in operations:
                continue
            parameters = {}
            for expected, given in zip(template, segments, strict=True):
                if expected.startswith("{"):
                    parameters[expected.strip("{}")] = unquote(given)
                elif expected != given:
                    break
            else:
                return resource, parameters
        return None

    def _event(
        self,
        method: str,
        full_path: str,
        resource_path: str,
        resource: str,
        path_parameters: dict[str, str],
    ) -> dict[str, Any]:
        execute_api = self.host.endswith(".amazonaws.com")
        return {
            "resource": resource,
            # On its own URL API Gateway leaves the stage out of `path`; on a custom
            # domain `path` keeps the base path. requestContext.path is always as sent.
            "path": resource_path if execute_api else full_path,
            "httpMethod": method,
            "pathParameters": path_parameters or None,
            "stageVariables": None,
            "requestContext": {
                "resourceId": "r3s0rc",
                "resourcePath": resource,
                "httpMethod": method,
                "path": full_path,
                "stage": self.package.stage,
                "accountId": "123456789012",
                "apiId": API_ID,
                "domainName": self.host,
                "domainPrefix": self.host.split(".")[0],
                "protocol": "HTTP/1.1",
                "requestId": str(uuid.uuid4()),
                "requestTimeEpoch": int(time.time() * 1000),
                "identity": {"sourceIp": "203.0.113.7", "userAgent": self.user_agent},
            },
        }

    def _headers_and_query(self, multi: dict[str, list[str]], query: str) -> dict[str, Any]:
        multi = {
            "Host": [self.host],
            "User-Agent": [self.user_agent],
            "X-Forwarded-For": ["203.0.113.7"],
            "X-Forwarded-Port": ["443"],
            "X-Forwarded-Proto": ["https"],
            **multi,
        }
        pairs = parse_qsl(query, keep_blank_values=True)
        query_multi: dict[str, list[str]] = {}
        for name, value in pairs:
            query_multi.setdefault(name, []).append(value)
        return {
            "headers": {name: values[-1] for name, values in multi.items()},
            "multiValueHeaders": multi,
            "queryStringParameters": {k: v[-1] for k, v in query_multi.items()} or None,
            "multiValueQueryStringParameters": query_multi or None,
        }

    def _body(self, body: str | None, multi: dict[str, list[str]]) -> tuple[str | None, bool]:
        if body is None:
            return None, False
        content_type = next((v[-1] for k, v in multi.items() if k.lower() == "content-type"), "")
        binary = self.package.api.get("x-amazon-apigateway-binary-media-types", [])
        if content_type.split(";")[0].strip() in binary:
            return base64.b64encode(body.encode()).decode("ascii"), True
        return body, False

    def _response(self, answer: dict[str, Any]) -> GatewayResponse:
        result = answer.get("result")
        if "error" in answer or not isinstance(result, dict):
            return self._refusal("DEFAULT_5XX", 502, "Internal server error")
        if len(json.dumps(result).encode()) > LAMBDA_RESPONSE_LIMIT:
            return self._refusal("DEFAULT_5XX", 502, "Internal server error")
        status, body = result.get("statusCode"), result.get("body") or ""
        if not isinstance(status, int) or not isinstance(body, str):
            return self._refusal("DEFAULT_5XX", 502, "Internal server error")
        headers = {k: list(v) for k, v in (result.get("multiValueHeaders") or {}).items()}
        for name, value in (result.get("headers") or {}).items():
            headers[name] = [*headers.get(name, []), str(value)]
        if result.get("isBase64Encoded"):
            body = base64.b64decode(body).decode("utf-8", errors="replace")
        return GatewayResponse(status, headers, body, True)

    def _refusal(self, kind: str, status: int, message: str) -> GatewayResponse:
        """API Gateway's own answer: the template's gateway response for `kind` (or the
        default for its class of status), else API Gateway's `{"message": ...}`."""
        responses = self.package.api.get("x-amazon-apigateway-gateway-responses", {})
        configured = responses.get(kind) or responses.get(f"DEFAULT_{status // 100}XX")
        if configured is None:
            return GatewayResponse(status, _json_headers(), json.dumps({"message": message}), False)
        template = configured.get("responseTemplates", {}).get("application/json", "")
        body = template.replace("$context.error.messageString", json.dumps(message))
        headers = _json_headers()
        for key, value in configured.get("responseParameters", {}).items():
            headers[key.removeprefix("gatewayresponse.header.")] = [str(value).strip("'")]
        return GatewayResponse(int(configured.get("statusCode", status)), headers, body, False)


def _json_headers() -> dict[str, list[str]]:
    return {"Content-Type": ["application/json"]}
