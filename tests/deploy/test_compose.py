"""compose.yaml, the Dockerfile and .env.example against the app itself (fast, no processes).

Docker does not run here, so what can be checked without it is checked against the code:
the settings every BaseSettings class reads (found in the source, so a new one is covered
the day it is written), the CLI parsers the commands go to, and the ports and paths the
settings classes read from the compose environment.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
PACKAGES = ("bot", "backend", "indexer")
APP_COMMAND = ["python", "-m", "bot"]
ONE_SHOTS = {
    "migrate": ["python", "-m", "backend", "migrate"],
    "index": ["python", "-m", "indexer", "build", "--if-changed"],
}
# A valid value for what the app requires and compose takes from .env.
REQUIRED_FROM_ENV_FILE = {"PSEUDONYM_KEY": "k" * 64}


# --- what the app reads ------------------------------------------------------------------


def settings_classes() -> list[type[BaseSettings]]:
    """Every BaseSettings subclass defined in the app's packages, found in the source (no
    module is imported that does not define one: `bot.__main__` would start the bot)."""
    found: list[type[BaseSettings]] = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names = [
                node.name
                for node in tree.body
                if isinstance(node, ast.ClassDef)
                and any(ast.unparse(base).split(".")[-1] == "BaseSettings" for base in node.bases)
            ]
            if not names:
                continue
            module_name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            module = importlib.import_module(module_name)
            found.extend(getattr(module, name) for name in names)
    return found


def env_names(settings_cls: type[BaseSettings]) -> set[str]:
    """The environment variables a settings class reads (case-insensitive: upper case)."""
    prefix = str(settings_cls.model_config.get("env_prefix") or "")
    names: set[str] = set()
    for field_name, info in settings_cls.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(choice.upper() for choice in alias.choices if isinstance(choice, str))
        elif isinstance(alias, str):
            names.add(alias.upper())
        else:
            names.add(f"{prefix}{field_name}".upper())
    return names


@pytest.fixture(scope="module")
def app_settings() -> set[str]:
    classes = settings_classes()
    # The ones the brief of this file names; more may come, fewer means discovery broke.
    assert {cls.__name__ for cls in classes} >= {
        "BotSettings",
        "ApiSettings",
        "BackendSettings",
        "IndexerSettings",
        "PrivacyRequestSettings",
        "SmtpSettings",
        "WebhookSettings",
        "SignalSettings",
        "AdminSettings",
        "HandoffSettings",
        "CardSettings",
    }
    return set().union(*(env_names(cls) for cls in classes))


# --- the files ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def ours(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run this repository's image."""
    return {name: spec for name, spec in compose["services"].items() if "build" in spec}


def environment(spec: dict[str, Any]) -> dict[str, str]:
    raw = spec.get("environment") or {}
    if isinstance(raw, list):
        return dict(item.split("=", 1) for item in raw)
    return {name: str(value) for name, value in raw.items()}


def documented() -> list[tuple[str, str, bool]]:
    """(name, value, commented out) for every `NAME=value` or `# NAME=value` line."""
    entries = []
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"(# )?([A-Z][A-Z0-9_]*)=(.*)", line)
        if match:
            entries.append((match.group(2), match.group(3), match.group(1) is not None))
    return entries


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = pending + line
        pending = ""
        keyword, _, arguments = text.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def instruction(name: str) -> list[str]:
    return [arguments for keyword, arguments in dockerfile_instructions() if keyword == name]


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, names: set[str]) -> None:
    """Make `env` the whole of the app's environment (nothing of this shell's)."""
    for name in names:
        monkeypatch.delenv(name, raising=False)
    for name, value in {**REQUIRED_FROM_ENV_FILE, **env}.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def app_env(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch, app_settings: set[str]
) -> dict[str, str]:
    env = environment(compose["services"]["app"])
    settings_from(env, monkeypatch, app_settings)
    return env


def mounts(spec: dict[str, Any]) -> dict[str, str]:
    """Container path -> named volume."""
    result = {}
    for entry in spec.get("volumes") or []:
        source, target = (
            (entry["source"], entry["target"]) if isinstance(entry, dict) else entry.split(":")[:2]
        )
        result[target] = source
    return result


def on_mount(path: str, spec: dict[str, Any], volume: str) -> bool:
    return any(
        source == volume and PurePosixPath(path).is_relative_to(target)
        for target, source in mounts(spec).items()
    )


def healthcheck_urls(test: Any) -> Iterator[str]:
    text = test if isinstance(test, str) else " ".join(test)
    yield from re.findall(r"https?://[^'\"\s]+", text)


# --- settings and their documentation ----------------------------------------------------


def test_every_setting_the_app_reads_is_documented(app_settings: set[str]) -> None:
    names = {name for name, _, _ in documented()}
    assert app_settings - names == set(), "add these to .env.example"


def test_env_example_lists_only_settings_the_app_reads(app_settings: set[str]) -> None:
    names = [name for name, _, _ in documented()]
    assert set(names) - app_settings == set()
    assert len(names) == len(set(names)), "a setting listed twice"


def test_env_example_leaves_no_secret_or_default_filled_in() -> None:
    """Uncommented lines are the required ones, empty: a copied .env fails loudly until
    they are filled in, and holds no example secret anyone could keep by mistake."""
    required = {name: value for name, value, commented in documented() if not commented}
    assert set(required) >= {"BOT_TOKEN", "WEBHOOK_URL", "PSEUDONYM_KEY"}
    assert all(value == "" for value in required.values()), required
    # An empty WEBHOOK_SECRET would turn the secret-token check off.
    assert "WEBHOOK_SECRET" not in required


def test_compose_sets_only_settings_the_app_reads(
    compose: dict[str, Any], app_settings: set[str]
) -> None:
    for name, spec in ours(compose).items():
        assert set(environment(spec)) - app_settings == set(), name


def test_every_service_of_the_image_reads_the_env_file(compose: dict[str, Any]) -> None:
    for name, spec in ours(compose).items():
        env_file = spec.get("env_file")
        files = env_file if isinstance(env_file, list) else [env_file]
        paths = [item["path"] if isinstance(item, dict) else item for item in files]
        assert ".env" in paths, name


def test_the_compose_environment_is_valid_for_every_settings_class(
    app_env: dict[str, str],
) -> None:
    for settings_cls in settings_classes():
        settings_cls()  # raises on a value the class rejects


# --- commands ----------------------------------------------------------------------------


def test_the_app_command_is_the_bot_module(compose: dict[str, Any]) -> None:
    assert compose["services"]["app"]["command"] == APP_COMMAND
    assert importlib.util.find_spec("bot.__main__") is not None


def test_one_shot_commands_are_accepted_by_their_parsers(compose: dict[str, Any]) -> None:
    from backend.cli import parser as backend_parser
    from indexer.cli import parser as indexer_parser

    services = compose["services"]
    assert services["migrate"]["command"] == ONE_SHOTS["migrate"]
    assert services["index"]["command"] == ONE_SHOTS["index"]
    migrate = backend_parser().parse_args(services["migrate"]["command"][3:])
    assert migrate.command == "migrate"
    build = indexer_parser().parse_args(services["index"]["command"][3:])
    assert (build.command, build.if_changed) == ("build", True)
    for name, spec in ours(compose).items():
        command = spec["command"]
        assert command[:2] == ["python", "-m"], name
        assert importlib.util.find_spec(f"{command[2]}.__main__") is not None, name


# --- ports and health --------------------------------------------------------------------


def test_container_ports_are_the_ones_the_app_listens_on(
    compose: dict[str, Any], app_env: dict[str, str]
) -> None:
    from backend.api.settings import ApiSettings
    from bot.settings import BotSettings

    bot, api = BotSettings(), ApiSettings()
    assert (bot.web_host, api.host) == ("0.0.0.0", "0.0.0.0")
    app = compose["services"]["app"]
    assert {str(port) for port in app["expose"]} == {str(bot.web_port), str(api.port)}
    # Replicas cannot share host ports: a proxy in front reaches them on the network.
    assert "ports" not in app
    exposed = {port for arguments in instruction("EXPOSE") for port in arguments.split()}
    assert exposed == {str(bot.web_port), str(api.port)}


def test_health_checks_target_the_web_port(
    compose: dict[str, Any], app_env: dict[str, str]
) -> None:
    from bot.settings import BotSettings

    port = BotSettings().web_port
    [compose_url] = healthcheck_urls(compose["services"]["app"]["healthcheck"]["test"])
    assert compose_url == f"http://127.0.0.1:{port}/readyz"
    [healthcheck] = instruction("HEALTHCHECK")
    [image_url] = healthcheck_urls(healthcheck)
    assert image_url == f"http://127.0.0.1:{port}/healthz"
    for name in ("postgres", "redis"):
        assert compose["services"][name]["healthcheck"]["test"], name


# --- order, replicas, volumes ------------------------------------------------------------


def test_depends_on_conditions(compose: dict[str, Any]) -> None:
    services = compose["services"]
    conditions = {
        name: condition["condition"] for name, condition in services["app"]["depends_on"].items()
    }
    assert conditions == {
        "postgres": "service_healthy",
        "redis": "service_healthy",
        "migrate": "service_completed_successfully",
        "index": "service_completed_successfully",
    }
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ONE_SHOTS:
        assert services[name].get("restart") == "no", name


def test_app_runs_in_replicas_with_a_grace_period(compose: dict[str, Any]) -> None:
    app = compose["services"]["app"]
    assert app["deploy"]["replicas"] >= 2
    assert app["stop_grace_period"] == "30s"


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    used = {
        source
        for spec in compose["services"].values()
        for source in mounts(spec).values()
        if not source.startswith((".", "/"))
    }
    assert used <= declared
    assert {"pgdata", "index", "knowledge"} <= declared


def test_index_and_knowledge_are_shared_between_the_index_step_and_the_app(
    compose: dict[str, Any], app_env: dict[str, str]
) -> None:
    from indexer.settings import IndexerSettings

    services = compose["services"]
    settings = IndexerSettings()
    for name in ("index", "app"):
        spec = services[name]
        assert environment(spec)["INDEXER_INDEX_DIR"] == str(settings.index_dir), name
        assert on_mount(str(settings.index_dir), spec, "index"), name
        assert on_mount(str(settings.knowledge_dir), spec, "knowledge"), name
        # Admins' uploads write both: no read-only mounts.
        assert all(not str(entry).endswith(":ro") for entry in spec["volumes"]), name


# --- Dockerfile --------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_on_python_311_slim() -> None:
    froms = instruction("FROM")
    assert len(froms) >= 2
    args = dict(arguments.split("=", 1) for arguments in instruction("ARG") if "=" in arguments)
    bases = [re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], f.split()[0]) for f in froms]
    assert bases[-1] == "python:3.11-slim"
    assert "AS builder" in froms[0]


def test_dockerfile_installs_the_production_extras() -> None:
    runs = " ".join(instruction("RUN"))
    assert '".[postgres,redis]"' in runs


def test_dockerfile_runs_as_a_non_root_user() -> None:
    users = instruction("USER")
    assert users, "no USER: the app would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert user == "10001"


def test_dockerfile_cmd_is_the_compose_app_command(compose: dict[str, Any]) -> None:
    [cmd] = instruction("CMD")
    assert json.loads(cmd) == compose["services"]["app"]["command"]


def test_dockerfile_runs_offline() -> None:
    env = " ".join(instruction("ENV"))
    assert "HF_HUB_OFFLINE=1" in env
