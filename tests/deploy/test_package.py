"""`make package`: Chalice's own `chalice package` builds the deployable artifact from the
tree as it is, with a checked-in least-privilege policy, a Lambda + EFS stage whose
template passes cfn-lint, and a zip holding the app and its runtime dependencies only."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from chalicelib import settings
from harness.lambda_harness import PROJECT_DIR, Package, build_package

API_GATEWAY_TIMEOUT_SECONDS = 29
NOT_SHIPPED = {"tests", "bench", "docs", "tools", ".venv", "build", ".chalice", ".git", "README.md"}


def git_status() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_the_dev_stage_packages_from_the_tree_as_it_is_and_leaves_it_clean(
    tmp_path: Path,
) -> None:
    before = git_status()
    package = build_package("dev", tmp_path / "dev")
    assert git_status() == before  # nothing to commit, nothing untracked, after packaging
    assert package.function("APIHandler")["Handler"] == "app.app"
    assert "VpcConfig" not in package.function("APIHandler")


def test_the_policy_is_checked_in_rather_than_guessed_by_the_analyzer() -> None:
    config = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
    assert config["autogen_policy"] is False
    for stage in config["stages"].values():
        assert (PROJECT_DIR / ".chalice" / stage["iam_policy_file"]).is_file()
    # chalice.test.Client copies the dev stage's variables into every test request.
    assert "environment_variables" not in config["stages"]["dev"]


def test_requirements_hold_the_runtime_dependencies_and_nothing_else() -> None:
    runtime = (PROJECT_DIR / "requirements.txt").read_text().split()
    names = [line.split(">")[0].split("=")[0] for line in runtime]
    # Notifications (issue 21): Apprise's services, and Standard Webhooks' signatures.
    assert names == ["pydantic", "apprise", "standardwebhooks"]
    development = (PROJECT_DIR / "requirements-dev.txt").read_text()
    assert "chalice==" in development and "cfn-lint" in development


def test_the_zip_holds_the_app_and_its_dependencies_built_for_this_python(
    package: Package,
) -> None:
    with zipfile.ZipFile(package.zip_path) as archive:
        names = archive.namelist()
    top = {name.split("/")[0] for name in names}
    assert {"app.py", "chalicelib", "chalice", "pydantic", "pydantic_core"} <= top
    assert not top & NOT_SHIPPED, top & NOT_SHIPPED
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    # Chalice's runtime only (its app module), not its command line or deployer.
    assert sorted(n for n in names if n.startswith("chalice/")) == [
        "chalice/__init__.py",
        "chalice/app.py",
    ]
    version = f"{sys.version_info.major}{sys.version_info.minor}"
    compiled = [n for n in names if n.startswith("pydantic_core/") and n.endswith(".so")]
    assert compiled and all(f"cpython-{version}-x86_64-linux-gnu" in n for n in compiled)
    assert package.zip_path.stat().st_size < 50 * 1024 * 1024  # Lambda's limit for a zip


def test_the_efs_stage_mounts_the_access_point_and_keeps_the_database_on_it(
    package: Package,
) -> None:
    parameters = package.template["Parameters"]
    assert parameters["SubnetIds"]["Type"] == "List<AWS::EC2::Subnet::Id>"
    assert parameters["SecurityGroupIds"]["Type"] == "List<AWS::EC2::SecurityGroup::Id>"
    for function in ("APIHandler", "Keys", "ScheduledBackup"):
        properties = package.function(function)
        assert properties["Runtime"] == f"python{sys.version_info.major}.{sys.version_info.minor}"
        assert properties["VpcConfig"] == {
            "SubnetIds": {"Ref": "SubnetIds"},
            "SecurityGroupIds": {"Ref": "SecurityGroupIds"},
        }
        (mount,) = properties["FileSystemConfigs"]
        assert mount["Arn"] == {"Ref": "AccessPointArn"}
        variables = properties["Environment"]["Variables"]
        assert Path(variables["TORRENTINO_DB_PATH"]).parent == Path(mount["LocalMountPath"])
        assert variables["TORRENTINO_JOURNAL_MODE"] in settings.JOURNAL_MODES
        assert settings.is_rollback(variables["TORRENTINO_JOURNAL_MODE"])
        if function != "ScheduledBackup":  # no API Gateway in front: up to Lambda's 15 min
            # Lambda answers (our 503 after the busy timeout) before API Gateway gives up.
            assert properties["Timeout"] < API_GATEWAY_TIMEOUT_SECONDS
        assert "EfsClientAccess" in package.template["Resources"][function]["DependsOn"]
    assert package.function("APIHandler")["Handler"] == "app.app"
    assert package.function("Keys")["Handler"] == "app.keys"
    assert package.function("ScheduledBackup")["Handler"] == "app.scheduled_backup"
    assert package.function("ScheduledBackup")["Timeout"] == 900
    assert package.function("APIHandler")["ReservedConcurrentExecutions"]["Fn::If"][0] == (
        "LimitConcurrency"
    )


def statements(package: Package) -> list[dict[str, Any]]:
    """Every statement of every policy the template grants the functions' roles."""
    found = []
    for resource in package.template["Resources"].values():
        if resource["Type"] == "AWS::IAM::Role":
            assert "ManagedPolicyArns" not in resource["Properties"]
            for policy in resource["Properties"]["Policies"]:
                found.extend(policy["PolicyDocument"]["Statement"])
        elif resource["Type"] == "AWS::IAM::Policy":
            assert resource["Properties"]["Roles"] == [
                {"Ref": "ApiHandlerRole"},
                {"Ref": "KeysRole"},
                {"Ref": "ScheduledBackupRole"},
            ]
            found.extend(resource["Properties"]["PolicyDocument"]["Statement"])
    return found


def test_the_roles_may_log_use_the_vpc_and_mount_the_one_access_point_and_nothing_else(
    package: Package,
) -> None:
    granted: dict[str, set[str]] = {}
    for statement in statements(package):
        assert statement["Effect"] == "Allow"
        granted.setdefault(statement["Sid"], set()).update(statement["Action"])
        if statement["Sid"] == "WriteOwnLogs":  # torrentino's functions' log groups only
            assert statement["Resource"] == "arn:*:logs:*:*:log-group:/aws/lambda/torrentino-*"
        if statement["Sid"] == "MountTheDatabaseAccessPointReadWrite":
            assert "${FileSystemId}" in statement["Resource"]["Fn::Sub"]
            assert statement["Condition"] == {
                "StringEquals": {"elasticfilesystem:AccessPointArn": {"Ref": "AccessPointArn"}}
            }
    assert granted == {
        "WriteOwnLogs": {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"},
        "LambdaVpcNetworkInterfaces": {
            "ec2:CreateNetworkInterface",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeSubnets",
            "ec2:DeleteNetworkInterface",
            "ec2:AssignPrivateIpAddresses",
            "ec2:UnassignPrivateIpAddresses",
        },
        "MountTheDatabaseAccessPointReadWrite": {
            "elasticfilesystem:ClientMount",
            "elasticfilesystem:ClientWrite",
        },
    }


def cfn_lint(template: Path) -> subprocess.CompletedProcess[str]:
    cfn_lint_command = Path(sys.executable).parent / "cfn-lint"
    return subprocess.run(
        [str(cfn_lint_command), str(template)], capture_output=True, text=True, check=False
    )


def test_the_template_passes_cfn_lint_which_does_catch_a_broken_one(
    package: Package, tmp_path: Path
) -> None:
    built = package.zip_path.parent / "sam.json"
    assert cfn_lint(built).returncode == 0, cfn_lint(built).stdout
    broken = json.loads(built.read_text())
    broken["Resources"]["APIHandler"]["Properties"]["Timeout"] = "soon"
    broken["Resources"]["Keys"]["Properties"]["VpcConfig"]["SubnetIds"] = {"Ref": "NoSuchThing"}
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    result = cfn_lint(tmp_path / "broken.json")
    assert result.returncode != 0
    assert "NoSuchThing" in result.stdout and "soon" in result.stdout
