"""The Docker deployment files, checked without Docker (no engine on these machines): the
compose file has Kafka in KRaft mode, PostgreSQL, ingest, workers and the dashboard; every
streamdash service runs a real CLI command with options it has; the environment variables
are ones streamdash reads; the Kafka address they use is the one the broker advertises; and
the Dockerfile copies files that exist and installs the `kafka` extra."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from streamdash.cli import app
from streamdash.config import ENV_DATA_DIR, ENV_DATABASE_URL, ENV_KAFKA, ENV_TOKEN

ROOT = Path(__file__).parents[3]


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_services_and_kraft() -> None:
    services = _compose()["services"]
    assert set(services) == {"kafka", "postgres", "ingest", "worker", "dashboard"}
    kafka = services["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    assert "zookeeper" not in yaml.safe_dump(_compose()).lower()
    assert kafka["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert services["worker"]["deploy"]["replicas"] >= 2
    for name in ("kafka", "postgres"):
        assert services[name]["healthcheck"]["test"]


def test_streamdash_services_run_real_commands() -> None:
    services = _compose()["services"]
    runner = CliRunner()
    advertised = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    broker = re.sub(r"^PLAINTEXT://", "", advertised)
    for name in ("ingest", "worker", "dashboard"):
        service = services[name]
        assert service["build"] == "."
        command = service["command"]
        result = runner.invoke(app, [command[0], "--help"])
        assert result.exit_code == 0, result.output
        for option in (arg for arg in command[1:] if arg.startswith("--")):
            assert option in result.output, (name, option)
        env = service["environment"]
        assert set(env) <= {ENV_DATABASE_URL, ENV_KAFKA, ENV_TOKEN, ENV_DATA_DIR}
        assert env[ENV_KAFKA] == broker
        assert env[ENV_DATABASE_URL].endswith("@postgres:5432/streamdash")
        assert "${POSTGRES_PASSWORD" in env[ENV_DATABASE_URL]  # no password written here
        assert {"kafka", "postgres"} <= set(service["depends_on"])
    assert services["ingest"]["ports"] == ["8000:8000"]
    assert services["dashboard"]["ports"] == ["8050:8050"]


def test_dockerfile_copies_what_exists_and_installs_the_kafka_extra() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11", text, re.MULTILINE)
    for line in re.findall(r"^COPY (.+)$", text, re.MULTILINE):
        *sources, _ = line.split()
        for source in sources:
            assert (ROOT / source).exists(), source
    assert "'.[kafka]'" in text
    assert 'ENTRYPOINT ["streamdash"]' in text
