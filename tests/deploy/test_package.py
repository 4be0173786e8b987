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

import pytest

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


MAKE_STORAGE = "MakeStorage"
EXISTING = {  # what someone with a network and file system of their own passes
    "SubnetIds": "subnet-0123456789abcdef0,subnet-0fedcba9876543210",
    "SecurityGroupIds": "sg-0123456789abcdef0",
    "FileSystemId": "fs-0123456789abcdef0",
    "AccessPointArn": (
        "arn:aws:elasticfilesystem:eu-west-1:123456789012:access-point/fsap-0123456789abcdef0"
    ),
}


def resolve(node: Any, make: bool) -> Any:
    """`node` with every `Fn::If` on MakeStorage decided (a property it makes
    `AWS::NoValue` left out), and a list split from its own join read as the list."""
    if isinstance(node, list):
        return [resolve(item, make) for item in node]
    if not isinstance(node, dict):
        return node
    if list(node) == ["Fn::If"] and node["Fn::If"][0] == MAKE_STORAGE:
        return resolve(node["Fn::If"][1 if make else 2], make)
    if list(node) == ["Fn::Split"] and list(node["Fn::Split"][1]) == ["Fn::Join"]:
        return resolve(node["Fn::Split"][1]["Fn::Join"][1], make)
    return {
        key: resolve(value, make) for key, value in node.items() if value != {"Ref": "AWS::NoValue"}
    }


def form(template: dict[str, Any], *, make: bool) -> dict[str, Any]:
    """The template as CloudFormation deploys it when the stack makes its own network and
    storage (`make`), or when it is given existing ones: conditions decided, resources of
    the other form left out, and the parameters it then uses, with what a user passes."""
    resolved: dict[str, Any] = resolve(template, make)
    resolved.pop("Rules")
    del resolved["Conditions"][MAKE_STORAGE]
    resolved["Resources"] = {
        name: {key: value for key, value in resource.items() if key != "Condition"}
        for name, resource in resolved["Resources"].items()
        if resource.get("Condition") != MAKE_STORAGE or make
    }
    for name, value in EXISTING.items():
        if make:
            del resolved["Parameters"][name]
        else:
            resolved["Parameters"][name]["Default"] = value
    return resolved


def test_the_efs_stage_mounts_the_access_point_and_keeps_the_database_on_it(
    package: Package,
) -> None:
    parameters = package.template["Parameters"]
    for name in EXISTING:  # all optional: left out, the stack makes its own
        assert parameters[name]["Default"] == ""
    assert parameters["SubnetIds"]["Type"] == "CommaDelimitedList"
    assert parameters["SecurityGroupIds"]["Type"] == "CommaDelimitedList"
    made = {
        "SubnetIds": [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}],
        "SecurityGroupIds": [{"Ref": "FunctionSecurityGroup"}],
    }
    for make, vpc, access_point in (
        (False, {name: {"Ref": name} for name in made}, {"Ref": "AccessPointArn"}),
        (True, made, {"Fn::GetAtt": ["AccessPoint", "Arn"]}),
    ):
        template = form(package.template, make=make)
        for function in ("APIHandler", "Keys", "ScheduledBackup"):
            properties = template["Resources"][function]["Properties"]
            assert (
                properties["Runtime"] == f"python{sys.version_info.major}.{sys.version_info.minor}"
            )
            assert properties["VpcConfig"] == vpc
            (mount,) = properties["FileSystemConfigs"]
            assert mount["Arn"] == access_point
            variables = properties["Environment"]["Variables"]
            assert Path(variables["TORRENTINO_DB_PATH"]).parent == Path(mount["LocalMountPath"])
            assert variables["TORRENTINO_JOURNAL_MODE"] in settings.JOURNAL_MODES
            assert settings.is_rollback(variables["TORRENTINO_JOURNAL_MODE"])
            if function != "ScheduledBackup":  # no API Gateway in front: up to Lambda's 15 min
                # Lambda answers (our 503 after the busy timeout) before API Gateway gives up.
                assert properties["Timeout"] < API_GATEWAY_TIMEOUT_SECONDS
            assert "EfsClientAccess" in template["Resources"][function]["DependsOn"]
    assert package.function("APIHandler")["Handler"] == "app.app"
    assert package.function("Keys")["Handler"] == "app.keys"
    assert package.function("ScheduledBackup")["Handler"] == "app.scheduled_backup"
    assert package.function("ScheduledBackup")["Timeout"] == 900
    assert package.function("APIHandler")["ReservedConcurrentExecutions"]["Fn::If"][0] == (
        "LimitConcurrency"
    )


def test_given_nothing_the_stack_makes_a_private_network_and_an_encrypted_file_system_it_keeps(
    package: Package,
) -> None:
    resources = form(package.template, make=True)["Resources"]
    made = {name: r["Type"] for name, r in resources.items() if r["Type"].startswith("AWS::E")}
    assert made == {
        "Network": "AWS::EC2::VPC",
        "PrivateSubnetA": "AWS::EC2::Subnet",
        "PrivateSubnetB": "AWS::EC2::Subnet",
        "FunctionSecurityGroup": "AWS::EC2::SecurityGroup",
        "MountTargetSecurityGroup": "AWS::EC2::SecurityGroup",
        "MountTargetIngress": "AWS::EC2::SecurityGroupIngress",
        "NotificationsSecurityGroup": "AWS::EC2::SecurityGroup",
        "MountTargetIngressFromNotifications": "AWS::EC2::SecurityGroupIngress",
        "FileSystem": "AWS::EFS::FileSystem",
        "MountTargetA": "AWS::EFS::MountTarget",
        "MountTargetB": "AWS::EFS::MountTarget",
        "AccessPoint": "AWS::EFS::AccessPoint",
    }
    # No way out of the network: no gateway, and subnets that give no public address.
    zones = []
    for letter in "AB":
        subnet = resources[f"PrivateSubnet{letter}"]["Properties"]
        assert subnet["MapPublicIpOnLaunch"] is False
        zones.append(subnet["AvailabilityZone"]["Fn::Select"][0])
        mount_target = resources[f"MountTarget{letter}"]["Properties"]
        assert mount_target["SubnetId"] == {"Ref": f"PrivateSubnet{letter}"}
        assert mount_target["SecurityGroups"] == [{"Ref": "MountTargetSecurityGroup"}]
    assert zones == [0, 1]  # two Availability Zones
    # The file system: encrypted, and never deleted or replaced with the stack.
    file_system = resources["FileSystem"]
    assert file_system["DeletionPolicy"] == "Retain"
    assert file_system["UpdateReplacePolicy"] == "Retain"
    assert file_system["Properties"]["Encrypted"] is True
    access_point = resources["AccessPoint"]["Properties"]
    assert access_point["FileSystemId"] == {"Ref": "FileSystem"}
    root = access_point["RootDirectory"]["CreationInfo"]
    assert (root["OwnerUid"], root["OwnerGid"]) == (
        access_point["PosixUser"]["Uid"],
        access_point["PosixUser"]["Gid"],
    )
    # NFS from the functions to the mount targets, and nothing else either way.
    [egress] = resources["FunctionSecurityGroup"]["Properties"]["SecurityGroupEgress"]
    assert (egress["IpProtocol"], egress["FromPort"], egress["ToPort"]) == ("tcp", 2049, 2049)
    assert egress["DestinationSecurityGroupId"] == {"Ref": "MountTargetSecurityGroup"}
    [none] = resources["MountTargetSecurityGroup"]["Properties"]["SecurityGroupEgress"]
    assert none["CidrIp"] == "127.0.0.1/32"
    ingress = resources["MountTargetIngress"]["Properties"]
    assert ingress["SourceSecurityGroupId"] == {"Ref": "FunctionSecurityGroup"}
    assert (ingress["IpProtocol"], ingress["FromPort"], ingress["ToPort"]) == ("tcp", 2049, 2049)
    # The notifications function: NFS, and its targets' ports, which lead nowhere until
    # someone adds a NAT gateway (the subnets have no route out).
    egress = resources["NotificationsSecurityGroup"]["Properties"]["SecurityGroupEgress"]
    assert egress[0]["DestinationSecurityGroupId"] == {"Ref": "MountTargetSecurityGroup"}
    assert sorted(rule["FromPort"] for rule in egress[1:]) == [80, 443, 465, 587]
    notifications = resources["ScheduledNotifications"]["Properties"]
    assert notifications["VpcConfig"]["SecurityGroupIds"] == [{"Ref": "NotificationsSecurityGroup"}]
    assert notifications["VpcConfig"]["SubnetIds"] == [
        {"Ref": "PrivateSubnetA"},
        {"Ref": "PrivateSubnetB"},
    ]
    assert notifications["FileSystemConfigs"][0]["Arn"] == {"Fn::GetAtt": ["AccessPoint", "Arn"]}
    assert not any(r["Type"] == "AWS::EC2::NatGateway" for r in resources.values())
    # Lambda mounts the file system only once its mount targets are there.
    ready = resources["MountTargetsReady"]["Metadata"]["MountTargets"]
    assert ready == [{"Ref": "MountTargetA"}, {"Ref": "MountTargetB"}]
    for function in ("APIHandler", "Keys", "ScheduledBackup", "ScheduledNotifications"):
        assert "MountTargetsReady" in resources[function]["DependsOn"]
    outputs = form(package.template, make=True)["Outputs"]
    assert outputs["FileSystemId"]["Value"] == {"Ref": "FileSystem"}
    assert outputs["WebPage"]["Value"] == outputs["EndpointURL"]["Value"]


def test_given_existing_ones_the_stack_makes_no_network_and_no_file_system(
    package: Package,
) -> None:
    template = form(package.template, make=False)
    kinds = {resource["Type"] for resource in template["Resources"].values()}
    assert not {kind for kind in kinds if kind.startswith(("AWS::EC2::", "AWS::EFS::"))}
    assert template["Outputs"]["FileSystemId"]["Value"] == {"Ref": "FileSystemId"}
    # The stack refuses half of the existing resources rather than mix them with new ones.
    rules = json.dumps(package.template["Rules"])
    for name in EXISTING:
        assert f'{{"Ref": "{name}"}}' in rules


def statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement of every policy the template grants the functions' roles."""
    found = []
    for resource in template["Resources"].values():
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


@pytest.mark.parametrize("make", [False, True], ids=["existing storage", "made storage"])
def test_the_roles_may_log_use_the_vpc_and_mount_the_one_access_point_and_nothing_else(
    package: Package, make: bool
) -> None:
    granted: dict[str, set[str]] = {}
    file_system = {"Fn::GetAtt": ["FileSystem", "Arn"]}
    access_point = {"Fn::GetAtt": ["AccessPoint", "Arn"]} if make else {"Ref": "AccessPointArn"}
    for statement in statements(form(package.template, make=make)):
        assert statement["Effect"] == "Allow"
        granted.setdefault(statement["Sid"], set()).update(statement["Action"])
        if statement["Sid"] == "WriteOwnLogs":  # torrentino's functions' log groups only
            assert statement["Resource"] == "arn:*:logs:*:*:log-group:/aws/lambda/torrentino-*"
        if statement["Sid"] == "MountTheDatabaseAccessPointReadWrite":
            if make:
                assert statement["Resource"] == file_system
            else:
                assert "${FileSystemId}" in statement["Resource"]["Fn::Sub"]
            assert statement["Condition"] == {
                "StringEquals": {"elasticfilesystem:AccessPointArn": access_point}
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
    for make in (False, True):  # and each form on its own, as CloudFormation will deploy it
        single = tmp_path / f"{'made' if make else 'existing'}.json"
        single.write_text(json.dumps(form(json.loads(built.read_text()), make=make)))
        assert cfn_lint(single).returncode == 0, cfn_lint(single).stdout
    broken = json.loads(built.read_text())
    broken["Resources"]["APIHandler"]["Properties"]["Timeout"] = "soon"
    broken["Resources"]["Keys"]["Properties"]["VpcConfig"]["SubnetIds"] = {"Ref": "NoSuchThing"}
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    result = cfn_lint(tmp_path / "broken.json")
    assert result.returncode != 0
    assert "NoSuchThing" in result.stdout and "soon" in result.stdout
