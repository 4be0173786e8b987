"""The deployment package, built once per run with `make package STAGE=efs`, and Lambda
containers of it (tools/lambda_harness.py) on a directory standing in for the EFS mount."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tools.lambda_harness import ApiGateway, Container, Package, build_package

STAGE = "efs"


@pytest.fixture(scope="session")
def package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    return build_package(STAGE, tmp_path_factory.mktemp("package"))


@pytest.fixture
def efs(tmp_path: Path) -> Path:
    """The directory standing in for the EFS access point's mount."""
    mount = tmp_path / "efs"
    mount.mkdir()
    return mount


StartContainer = Callable[..., Container]


@pytest.fixture
def start_container(package: Package, efs: Path, tmp_path: Path) -> Iterator[StartContainer]:
    """Start containers of the package (the API handler unless named); all stopped after."""
    started: list[Container] = []

    def start(function: str = "APIHandler", name: str | None = None) -> Container:
        name = name or f"{function}-{len(started)}"
        container = Container(package, function, mount_dir=efs, workdir=tmp_path / name, name=name)
        started.append(container.start())
        return container

    yield start
    for container in started:
        container.stop()


@pytest.fixture
def gateway(package: Package, start_container: StartContainer) -> ApiGateway:
    """API Gateway's own URL (the stage in the path) in front of one API container."""
    return ApiGateway.execute_api(package, start_container())
