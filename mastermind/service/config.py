"""The daemon's configuration: a YAML file (config/mastermind.yaml documents every option),
then `MASTERMIND_*` environment variables on top, validated with pydantic.

Environment overrides name the path with double underscores: `MASTERMIND_API__PORT=8931`,
`MASTERMIND_STORE__DSN=postgresql://...`. Values are read as YAML scalars (`true`, `5`, `30s`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mastermind.errors import MastermindError
from mastermind.language.model import Duration
from mastermind.language.yaml_source import load_yaml

DEFAULT_PORT = 8931  # not taken by PostgreSQL, Redis, RabbitMQ, Mosquitto or NATS


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApiConfig(Section):
    host: str = Field("127.0.0.1", description="bind address; localhost unless you mean it")
    port: int = Field(DEFAULT_PORT, ge=0, le=65535)
    tokens: list[str] = Field(
        default_factory=list,
        description="bearer tokens allowed to change state; also read from the credential "
        "file `api-tokens` (systemd LoadCredential=), one per line",
    )
    max_body_bytes: int = Field(1024 * 1024, ge=1024, description="largest request body accepted")
    read_timeout: Duration = Field(
        10.0,
        gt=0,
        description="how long a client may take to send a request (headers and body) and to "
        "take each piece of a response; a connection idle this long is closed",
    )
    sse_queue: int = Field(
        1000, ge=1, description="events held for one event-stream client; beyond, it is dropped"
    )


class StoreConfig(Section):
    state_dir: Path | None = Field(None, description="SQLite state directory")
    synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    dsn: str | None = Field(None, description="PostgreSQL DSN: share work with other daemons")
    schema_name: str = Field("mastermind", alias="schema")
    lease: Duration = Field(15.0, description="PostgreSQL: how long a claim lasts unrenewed")
    command_timeout: Duration = Field(
        30.0, gt=0, description="PostgreSQL: the longest any one database call may take"
    )
    max_output_bytes: int = Field(1024 * 1024, ge=1)
    retention: Duration | None = Field(None, description="prune finished runs older than this")


class LimitsConfig(Section):
    agents: dict[str, int] = Field(default_factory=dict, description="most steps per agent kind")
    pools: dict[str, int] = Field(default_factory=dict, description="named pools' sizes")
    default_pool_size: int = Field(4, ge=1)
    process_pool_size: int | None = Field(None, ge=1, description="default: number of cores")
    step_timeout: Duration | None = Field(
        3600.0, description="attempt timeout for steps that set none; null: none"
    )
    cancel_grace: Duration = 5.0
    runs: int = Field(
        1000, ge=1, description="most runs this daemon runs at once; beyond, submissions get 429"
    )


class DebugConfig(Section):
    slow_callback: Duration | None = Field(
        0.1,
        description="log (with its stack) and count any event-loop callback longer than this; "
        "null: off",
    )


class Config(Section):
    """Everything `mastermind serve` reads."""

    workflows: Path = Field(Path("workflows"), description="folder of workflow files to serve")
    api: ApiConfig = Field(default_factory=ApiConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    agents: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="settings passed to agents, by agent name"
    )
    secrets: dict[str, str] = Field(
        default_factory=dict, description="secrets for expressions; prefer credential files"
    )
    debug: DebugConfig = Field(default_factory=DebugConfig)
    drain_grace: Duration = Field(30.0, description="SIGTERM: how long running steps may finish")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


def load_config(path: str | Path | None, environ: dict[str, str] | None = None) -> Config:
    """Read the file (if any), apply MASTERMIND_* overrides and credentials, validate."""
    environ = dict(os.environ if environ is None else environ)
    data: dict[str, Any] = {}
    if path is not None:
        try:
            text = Path(path).read_bytes()
        except OSError as exc:
            raise MastermindError(f"cannot read config {path}: {exc.strerror}") from None
        source = load_yaml(text, str(path))
        if source.data is not None:
            if not isinstance(source.data, dict):
                raise MastermindError(f"{path}: the config is a mapping of sections")
            data = source.data
    for key, raw in environ.items():
        if not key.startswith("MASTERMIND_") or key in _NOT_CONFIG:
            continue
        parts = key[len("MASTERMIND_") :].lower().split("__")
        target = data
        for part in parts[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise MastermindError(f"{key}: {part} is not a section")
        target[parts[-1]] = yaml.safe_load(raw) if raw else raw
    credentials = environ.get("CREDENTIALS_DIRECTORY")
    if credentials:
        _read_credentials(Path(credentials), data)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise MastermindError(f"invalid configuration: {problems}") from None


_NOT_CONFIG = {
    "MASTERMIND_STATE_DIR",
    "MASTERMIND_DSN",
    "MASTERMIND_SQLITE_SYNCHRONOUS",
    "MASTERMIND_URL",
    "MASTERMIND_TOKEN",
}


def _read_credentials(folder: Path, data: dict[str, Any]) -> None:
    """systemd credentials: `api-tokens` (one per line) and `secret-NAME` files."""
    tokens_file = folder / "api-tokens"
    if tokens_file.is_file():
        tokens = [t.strip() for t in tokens_file.read_text().splitlines() if t.strip()]
        data.setdefault("api", {}).setdefault("tokens", []).extend(tokens)
    for secret in folder.glob("secret-*"):
        data.setdefault("secrets", {})[secret.name[len("secret-") :]] = secret.read_text().strip()
