"""`make deploy`, the one command docs/deploy.md gives: it packages the EFS stage and hands
it to `sam deploy`, which makes the code's bucket itself, with no parameter unless given.
(There is no AWS account in the tests: `make -n` shows what it would run.)"""

from __future__ import annotations

import subprocess

from harness.server_process import PROJECT_DIR


def dry_run(*args: str) -> str:
    done = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "deploy", *args],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.replace("\\\n", " ")


def test_make_deploy_packages_the_efs_stage_and_sam_deploys_it() -> None:
    commands = [" ".join(line.split()) for line in dry_run().splitlines()]
    package = next(i for i, c in enumerate(commands) if "chalice package --stage efs" in c)
    assert "--merge-template .chalice/template-efs.json build/package/efs" in commands[package]
    assert any("cfn-lint build/package/efs/sam.json" in c for c in commands[package:])
    [deploy] = [c for c in commands if c.startswith("sam deploy")]
    assert commands.index(deploy) > package
    assert "--template-file build/package/efs/sam.json --stack-name torrentino" in deploy
    assert "--resolve-s3" in deploy  # no bucket made by hand
    assert "--capabilities CAPABILITY_IAM" in deploy
    assert "--parameter-overrides" not in deploy  # nothing given: the stack makes it all


def test_existing_resources_and_another_stack_name_are_passed_through() -> None:
    given = "SubnetIds=subnet-a,subnet-b SecurityGroupIds=sg-c FileSystemId=fs-d AccessPointArn=e"
    output = dry_run("STACK=home", f"PARAMETERS={given}")
    assert "--stack-name home" in output
    assert f"--parameter-overrides {given}" in " ".join(output.split())
