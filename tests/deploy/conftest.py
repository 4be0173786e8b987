"""The deployment package, built once per run with `make package STAGE=efs`, and Lambda
containers of it (harness/lambda_harness.py) on a directory standing in for the EFS mount."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.lambda_harness import ApiGateway, Container, Package, build_package

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

    def start(function: str = "APIHandler", name: str | None = None, **options: Any) -> Container:
        name = name or f"{function}-{len(started)}"
        container = Container(
            package, function, mount_dir=efs, workdir=tmp_path / name, name=name, **options
        )
        started.append(container.start())
        return container

    yield start
    for container in started:
        container.stop()


# Behind API Gateway every caller is remote: a deployment serves once its first key exists.
FIRST_ADMIN = "owner"
# For tests about starting and sharing the database rather than about keys: the setting
# that lets keyless callers in from the network, so the containers start on a fresh volume.
OPEN_TO_NETWORK = {"TORRENTINO_OPEN_TO_NETWORK": "1"}


def create_first_key(start_container: StartContainer) -> str:
    """The first admin key, made as a deployment makes it: by invoking the keys function."""
    answer = start_container("Keys").invoke(
        {"command": "create", "user": FIRST_ADMIN, "role": "admin"}
    )
    key: str = answer["result"]["key"]
    return key


@pytest.fixture
def gateway(package: Package, start_container: StartContainer) -> ApiGateway:
    """API Gateway's own URL (the stage in the path) in front of one API container, with the
    deployment's first admin key."""
    key = create_first_key(start_container)
    return ApiGateway.execute_api(package, start_container(), api_key=key)
