"""The production stack (compose.yaml, Dockerfile) and its documentation (docs/production.md).

Nothing here starts a container: the structure is read with PyYAML, the settings the stack
passes are parsed by the real ``Settings``, and ``docker compose config`` (or the older
``docker-compose``) checks the file itself where a compose CLI is installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.settings import Settings
from tests.conftest import REPO

COMPOSE = REPO / "compose.yaml"
DOCKERFILE = REPO / "Dockerfile"
DOCS = REPO / "docs" / "production.md"

APP = ("api", "worker")
BACKENDS = ("postgres", "minio", "rabbitmq", "redis", "anvil")
ONE_SHOT = ("minio-init",)
# What `docker compose` must be given (the .env of a deployment); placeholders, not secrets.
REQUIRED = {
    "POSTGRES_PASSWORD": "pg-placeholder",
    "MINIO_ROOT_PASSWORD": "minio-placeholder",
    "FRESHPROOF_S3_SECRET_KEY": "s3-placeholder",
    "RABBITMQ_PASSWORD": "amqp-placeholder",
    "REDIS_PASSWORD": "redis-placeholder",
    "FRESHPROOF_ANCHOR_PRIVATE_KEY": "0x" + "11" * 32,
}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _services() -> dict[str, dict[str, Any]]:
    return _compose()["services"]


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR:?error}` and `$$`, enough for this file."""

    def one(m: re.Match[str]) -> str:
        name, op, arg = m.groups()
        if name in env:
            return env[name]
        if op and op.endswith("-"):
            return arg
        raise KeyError(f"{name} is required: {arg}")

    return _VAR.sub(one, value).replace("$$", "$")


def _command(service: dict[str, Any]) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else command


def _final_stage(dockerfile: str) -> list[str]:
    """The instructions of the Dockerfile's last stage, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    lines = [ln.strip() for ln in joined.splitlines() if ln.strip() and not ln.startswith("#")]
    start = max(i for i, ln in enumerate(lines) if ln.upper().startswith("FROM "))
    return lines[start:]


def test_the_stack_has_every_service() -> None:
    services = _services()
    assert set(services) == {*APP, *BACKENDS, *ONE_SHOT}
    assert services["postgres"]["image"].endswith(":-postgres:15}")
    assert "foundry-rs/foundry" in services["anvil"]["image"]
    assert "anvil --host 0.0.0.0" in _command(services["anvil"])
    assert "minio/mc" in services["minio-init"]["image"]


def test_every_long_running_service_has_a_health_check() -> None:
    for name, service in _services().items():
        if name in ONE_SHOT:
            assert service.get("restart") == "no", name
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no health check"
        assert service.get("restart") == "unless-stopped", name


def test_health_checks_use_each_engines_own_probe() -> None:
    services = _services()

    def probe(name: str) -> str:
        return " ".join(services[name]["healthcheck"]["test"][1:])

    assert probe("postgres").startswith("pg_isready")
    assert probe("rabbitmq") == "rabbitmq-diagnostics -q ping"
    assert probe("redis").startswith("redis-cli ping")
    assert probe("anvil").startswith("cast block-number")
    assert probe("minio") == "mc ready local"
    assert "/healthz" in probe("api")
    assert "control.ping" in probe("worker")


def test_the_api_health_check_asks_a_public_route_that_exists() -> None:
    from api.auth.access import PUBLIC, ROUTE_PERMISSIONS
    from api.routes.health import router

    assert "/healthz" in {route.path for route in router.routes}  # type: ignore[attr-defined]
    assert ROUTE_PERMISSIONS[("GET", "/healthz")] is PUBLIC
    assert "/healthz" in DOCKERFILE.read_text()


def test_the_app_waits_for_healthy_backends() -> None:
    services = _services()
    for name in APP:
        needs = services[name]["depends_on"]
        for backend in ("postgres", "rabbitmq", "redis", "anvil"):
            assert needs[backend] == {"condition": "service_healthy"}, (name, backend)
        assert needs["minio-init"] == {"condition": "service_completed_successfully"}, name
    # The worker starts once the api service has migrated the schema and made the keys.
    assert services["worker"]["depends_on"]["api"] == {"condition": "service_healthy"}
    assert services["minio-init"]["depends_on"]["minio"] == {"condition": "service_healthy"}
    for name, service in services.items():
        for target, how in service.get("depends_on", {}).items():
            if how["condition"] == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits on {target}"


def test_api_migrates_then_serves_and_the_worker_is_the_same_image() -> None:
    services = _services()
    api, worker = services["api"], services["worker"]
    assert "freshproof db upgrade && exec freshproof serve --host 0.0.0.0" in _command(api)
    assert _command(worker).startswith("freshproof worker")
    assert api["image"] == worker["image"] and api["build"] == worker["build"] == "."
    for service in (api, worker):
        env = service["environment"]
        assert env["FRESHPROOF_DB_AUTO_UPGRADE"] == "false"
        assert env["FRESHPROOF_TASKS"] == "celery"
        assert env["FRESHPROOF_EVIDENCE_BACKEND"] == "s3"
        assert env["FRESHPROOF_ANCHOR_BACKEND"] == "rpc"
        assert env["FRESHPROOF_ANCHOR_RPC_URL"].endswith(":-http://anvil:8545}")
        assert "freshproof-data:/data" in service["volumes"]
        assert "user" not in service, "the image's non-root user must not be overridden"


def test_the_evidence_bucket_is_made_with_object_lock() -> None:
    script = " ".join(_services()["minio-init"]["entrypoint"])
    assert 'mc mb --ignore-existing --with-lock "store/$$bucket"' in script
    assert 'bucket="$$FRESHPROOF_S3_BUCKET"' in script
    # The app retains each original itself; a bucket default would retain served copies too.
    assert "retention set" not in script
    # The app's own user may write and retain, never delete or bypass governance.
    assert "s3:PutObjectRetention" in script
    assert "DeleteObject" not in script and "BypassGovernance" not in script


def test_secrets_are_placeholders_never_values() -> None:
    text = COMPOSE.read_text()
    for name in REQUIRED:
        assert f"${{{name}:?" in text, f"{name} must be required from .env"
    assert not re.search(r"0x[0-9a-fA-F]{64}", text), "a private key is written in compose.yaml"
    services = _services()
    secrets = {
        "postgres": "POSTGRES_PASSWORD",
        "minio": "MINIO_ROOT_PASSWORD",
        "rabbitmq": "RABBITMQ_DEFAULT_PASS",
        "redis": "REDISCLI_AUTH",
        "api": "FRESHPROOF_S3_SECRET_KEY",
    }
    for service, var in secrets.items():
        assert services[service]["environment"][var].startswith("${"), (service, var)
    password = services["redis"]["command"][services["redis"]["command"].index("--requirepass") + 1]
    assert password.startswith("${REDIS_PASSWORD:?")


def test_state_lives_in_named_volumes() -> None:
    compose = _compose()
    declared = set(compose["volumes"])
    used = set()
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            assert not source.startswith((".", "/", "~")), f"{name} bind-mounts {source}"
            used.add(source)
    assert used == declared
    assert {"freshproof-data", "postgres-data", "minio-data"} <= used


def test_every_freshproof_variable_is_a_setting() -> None:
    fields = set(Settings.model_fields)
    for path in (COMPOSE, DOCKERFILE):
        names = set(re.findall(r"\bFRESHPROOF_([A-Z0-9_]*[A-Z0-9])\b", path.read_text()))
        unknown = sorted(f"FRESHPROOF_{n}" for n in names if n.lower() not in fields)
        assert not unknown, f"{path.name} sets variables Settings does not read: {unknown}"


@pytest.mark.parametrize("service", APP)
def test_the_stacks_settings_parse(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FRESHPROOF_"):
            monkeypatch.delenv(name)
    env = _services()[service]["environment"]
    for name, value in env.items():
        if value is not None:  # a bare name passes the host's value through; here, unset
            monkeypatch.setenv(name, _interpolate(str(value), REQUIRED))
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.data_dir == Path("/data")
    assert settings.db_auto_upgrade is False
    assert settings.resolved_database_url.startswith("postgresql+psycopg://freshproof:")
    assert settings.evidence_backend == "s3" and settings.s3_endpoint == "minio:9000"
    assert settings.s3_retention_days == 365 and settings.s3_retention_mode == "GOVERNANCE"
    assert settings.tasks == "celery"
    assert settings.broker_url.startswith("amqp://freshproof:")
    assert settings.result_backend.startswith("redis://:")
    # The api replicas count rate limits together.
    assert settings.redis_url is not None and settings.redis_url.startswith("redis://:")
    assert settings.anchor_private_key == REQUIRED["FRESHPROOF_ANCHOR_PRIVATE_KEY"]
    assert settings.web_secure_cookies is True


def test_the_image_runs_as_a_fixed_non_root_user() -> None:
    stage = _final_stage(DOCKERFILE.read_text())
    assert re.match(r"FROM python:3\.11-slim\S* AS runtime", stage[0])
    users = [ln.split()[1] for ln in stage if ln.upper().startswith("USER ")]
    assert users, "the runtime stage sets no USER"
    user = users[-1].split(":")[0]
    assert user.isdigit() and int(user) >= 1000, f"USER {users[-1]} is not a fixed non-root uid"
    assert any(ln.startswith("HEALTHCHECK ") and "/healthz" in ln for ln in stage)
    assert any("chown 10001" in ln and "/data" in ln for ln in stage)
    assert "ENV" in " ".join(stage) and "FRESHPROOF_WEIGHTS_DIR=/app/weights" in " ".join(stage)


def test_the_serving_install_has_no_torch() -> None:
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    installs = [
        part.strip()
        for line in joined.splitlines()
        if line.startswith("RUN ")
        for part in line[4:].split("&&")
        if "pip install" in part
    ]
    assert installs == ["pip install ."], installs
    assert "weights/*.pt" in (REPO / ".dockerignore").read_text().splitlines()
    assert ".env" in (REPO / ".dockerignore").read_text().splitlines()

    def name(requirement: str) -> str:
        return re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0].lower().replace("_", "-")

    # What `pip install .` brings: the main dependencies and everything they need.
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    todo, seen = [name(r) for r in deps if "extra ==" not in r], set()
    while todo:
        dist = todo.pop()
        if dist in seen:
            continue
        seen.add(dist)
        try:
            todo += [name(r) for r in metadata.requires(dist) or [] if "extra ==" not in r]
        except metadata.PackageNotFoundError:
            continue
    assert not seen & {"torch", "torchvision", "ultralytics"}


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def _run_config(cli: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    # An empty env file: a developer's own .env must not fill in what the test leaves out.
    empty = tmp_path / "empty.env"
    empty.write_text("")
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}
    return subprocess.run(
        [*cli, "--env-file", str(empty), "-f", str(COMPOSE), "config", "-q"],
        cwd=REPO,
        env=base | env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no compose CLI: neither `docker compose` nor `docker-compose` is installed")
    done = _run_config(cli, REQUIRED, tmp_path)
    assert done.returncode == 0, done.stderr
    # Without the secrets it refuses, naming the first one missing.
    done = _run_config(cli, {}, tmp_path)
    assert done.returncode != 0
    assert any(name in done.stderr for name in REQUIRED), done.stderr


def test_docs_name_every_setting_and_every_stack_variable() -> None:
    docs = DOCS.read_text()
    missing = [f"FRESHPROOF_{f.upper()}" for f in Settings.model_fields]
    missing = [name for name in missing if name not in docs]
    assert not missing, f"docs/production.md does not document {missing}"
    stack = set(_VAR.findall(COMPOSE.read_text()))
    undocumented = sorted({name for name, _, _ in stack} - set(re.findall(r"\b[A-Z0-9_]+", docs)))
    assert not undocumented, f"docs/production.md does not explain {undocumented}"
    for words in ("freshproof db upgrade", "freshproof keys create", "/healthz", "pg_dump"):
        assert words in docs, words
