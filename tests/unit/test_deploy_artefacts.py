"""The deployment artefacts (deploy/compose, deploy/k8s, deploy/Dockerfile) are valid and agree with the code.

No Docker engine or Kubernetes runs here: the manifests are validated against Kubernetes' own schemas
(kubernetes-validate, strict), the compose file against the Compose Specification's schema (as vendored by
check-jsonschema), and every command, option and TOUCHSTREAM_* variable they use against the CLI and the
settings, so a renamed option or variable fails here rather than in someone's cluster.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import typer.main
import yaml

from touchstream.adapters.cli.main import app
from touchstream.adapters.config import VARIABLES

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
K8S_VERSION = "1.30.0"
OPERATOR_APIS = {
    "kafka.strimzi.io/v1beta2",
    "clickhouse.altinity.com/v1",
    "clickhouse-keeper.altinity.com/v1",
    "postgresql.cnpg.io/v1",
}


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _manifests() -> list[tuple[str, dict[str, Any]]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return [(name, doc) for name in kustomization["resources"] for doc in _documents(K8S / name)]


def _by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in _manifests() if d["kind"] == kind}


def _command(argv: list[str]) -> Any:
    """The click command `touchstream argv...` names, failing with the path when it does not exist."""
    command: Any = typer.main.get_command(app)
    for word in argv:
        if word.startswith("-"):
            break
        assert hasattr(command, "commands"), f"`{' '.join(argv)}`: {command.name} has no subcommands"
        assert word in command.commands, f"`touchstream {' '.join(argv)}`: no command {word!r}"
        command = command.commands[word]
    return command


def _check_argv(argv: list[str]) -> None:
    command = _command(argv)
    known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
    for word in argv:
        if word.startswith("--"):
            option = word.split("=", 1)[0]
            assert option in known, f"`touchstream {' '.join(argv)}`: {option} is not an option of it"


def _touchstream_argvs(shell: str) -> list[list[str]]:
    """Every `touchstream ...` invocation in a shell line, as argv."""
    return [part.split()[1:] for part in re.findall(r"touchstream(?: [\w=./-]+)+", shell)]


# ---------------------------------------------------------------- Kubernetes


def test_kustomization_lists_every_manifest_of_the_folder() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


@pytest.mark.parametrize(("name", "doc"), _manifests(), ids=lambda v: v if isinstance(v, str) else v["kind"])
def test_each_manifest_is_valid_kubernetes(name: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_a_broken_manifest_is_caught() -> None:
    # The validator does fail: a probe path given as a number is refused.
    deployment = json.loads(json.dumps(_by_kind("Deployment")["touchstream-gateway"]))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"] = 8
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_workers_relay_gateway_and_api_run_from_the_one_image() -> None:
    deployments = _by_kind("Deployment")
    assert set(deployments) == {f"touchstream-{c}" for c in ("worker", "relay", "gateway", "api")}
    for name, deployment in deployments.items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == "touchstream", name
        _check_argv(container["args"])


def test_gateway_and_api_probe_their_http_endpoints() -> None:
    deployments = _by_kind("Deployment")
    expected = {"touchstream-gateway": ("/readyz", "/healthz"), "touchstream-api": ("/healthz", "/healthz")}
    for name, (ready, live) in expected.items():
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == ready
        assert container["livenessProbe"]["httpGet"]["path"] == live
    gateway = (DEPLOY.parent / "adapters" / "gateway" / "app.py").read_text()
    api = "".join(p.read_text() for p in sorted((DEPLOY.parent / "adapters" / "api").rglob("*.py")))
    assert '"/readyz"' in gateway
    assert '"/healthz"' in gateway
    assert '"/healthz"' in api


def test_workers_scale_on_consumer_lag_up_to_the_partition_count() -> None:
    from touchstream.streams.topology import RAW, spec_for

    hpa = _by_kind("HorizontalPodAutoscaler")["touchstream-worker"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "touchstream-worker"
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "External"
    assert metric["external"]["metric"]["name"] == "kafka_consumergroup_lag"
    config = _by_kind("ConfigMap")["touchstream"]["data"]
    assert (
        metric["external"]["metric"]["selector"]["matchLabels"]["consumergroup"]
        == config["TOUCHSTREAM_WORKER_ID"]
    )
    assert hpa["spec"]["maxReplicas"] <= spec_for(RAW).partitions


def test_the_config_map_sets_only_known_settings() -> None:
    config = _by_kind("ConfigMap")["touchstream"]["data"]
    assert set(config) <= set(VARIABLES), set(config) - set(VARIABLES)
    assert config["TOUCHSTREAM_CLICKHOUSE_CLUSTER"] == "touchstream"


def test_the_migrate_job_runs_real_commands() -> None:
    job = _by_kind("Job")["touchstream-migrate"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    argvs = _touchstream_argvs(container["command"][-1])
    assert [a[:2] for a in argvs] == [["topics", "create"], ["db", "migrate"]]
    for argv in argvs:
        _check_argv(argv)


@pytest.mark.parametrize("path", sorted((K8S / "operators").glob("*.yaml")), ids=lambda p: p.name)
def test_operator_resources_name_the_usual_operators(path: Path) -> None:
    documents = _documents(path)
    assert documents
    for doc in documents:
        assert doc["apiVersion"] in OPERATOR_APIS, f"{path.name}: {doc['apiVersion']}"
        assert doc["metadata"]["name"]
        assert doc["spec"]


# ---------------------------------------------------------------- Compose


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def _compose_schema() -> dict[str, Any]:
    text = (resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def test_compose_file_matches_the_compose_specification() -> None:
    validator = jsonschema.Draft7Validator(_compose_schema())  # the schema's own $schema (draft 7)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(_compose())]
    assert not errors, errors


def test_a_broken_compose_file_is_caught() -> None:
    broken = _compose()
    broken["services"]["worker"]["replica"] = 2  # a misspelt key
    assert list(jsonschema.Draft7Validator(_compose_schema()).iter_errors(broken))


def test_compose_runs_the_whole_small_production() -> None:
    services = _compose()["services"]
    for name in ("kafka-1", "kafka-2", "kafka-3", "keeper", "clickhouse-1", "clickhouse-2", "postgres"):
        assert name in services
    for name in ("init", "worker", "relay", "gateway", "api"):
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (COMPOSE.parent / services["worker"]["build"]["context"] / "deploy" / "Dockerfile").resolve() == (
        DEPLOY / "Dockerfile"
    )


def test_compose_references_resolve() -> None:
    compose = _compose()
    services = compose["services"]
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for secret in service.get("secrets", []):
            assert secret in compose["secrets"], f"{name}: undeclared secret {secret}"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), f"{name}: {source} is missing"
            else:
                assert source in compose["volumes"], f"{name}: undeclared volume {source}"
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_compose_uses_real_commands_and_settings() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        if service.get("image", "").startswith("${TOUCHSTREAM_IMAGE"):
            environment = service["environment"]
            assert set(environment) <= set(VARIABLES), set(environment) - set(VARIABLES)
            command = service.get("command", [])
            argvs = _touchstream_argvs(command[-1]) if service.get("entrypoint") else [command]
            assert argvs, name
            for argv in argvs:
                _check_argv(argv)


def test_dockerfile_copies_what_exists_and_runs_the_cli() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (?!--)(\S+)", dockerfile, re.MULTILINE):
        assert (DEPLOY.parent / source).exists(), source
    for folder in ("events", "projections", "streams", "adapters"):
        assert f"COPY {folder} ./{folder}" in dockerfile
    assert 'ENTRYPOINT ["touchstream"]' in dockerfile


def test_commands_in_the_deploy_doc_are_real() -> None:
    doc = (DEPLOY.parent / "docs" / "deploy.md").read_text()
    argvs = [
        argv for block in re.findall(r"```sh\n(.*?)```", doc, re.DOTALL) for argv in _touchstream_argvs(block)
    ]
    assert argvs
    for argv in argvs:
        _check_argv(argv)
