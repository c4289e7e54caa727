"""The daemon's configuration, through pydantic-settings. Highest priority first:

1. `MASTERMIND_*` environment variables, the path spelled with double underscores:
   `MASTERMIND_API__PORT=8931`, `MASTERMIND_STORE__DSN=postgresql://...`. Values are YAML
   (`true`, `5`, `30s`, `{github: 3}`). An unknown `MASTERMIND_*` variable is a warning.
2. Credentials (systemd `LoadCredential=`, read from `$CREDENTIALS_DIRECTORY`): `api-tokens`
   (one per line), `secret-NAME` (becomes `secrets.NAME`), and pydantic-settings' `secrets_dir`
   convention, a file per top-level option (`mastermind_store` holding `{dsn: ...}`).
3. The YAML file (config/mastermind.yaml documents every option). Relative paths in it resolve
   against its folder. Its errors carry file:line:col and a did-you-mean.
4. The defaults.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)

from mastermind.errors import MastermindError, WorkflowError
from mastermind.language.loader import shape_problems
from mastermind.language.model import Duration
from mastermind.language.yaml_source import load_yaml

log = logging.getLogger(__name__)

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
    webhook_tolerance: Duration = Field(
        300.0,
        ge=1.0,  # the timestamp is in whole seconds
        description="how far a webhook delivery's X-Mastermind-Timestamp may be from this "
        "daemon's clock, either way; a delivery outside it (stale, or from the future) gets 401",
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
    max_items: int = Field(
        100_000, ge=1, description="most items one for_each may fan out to; beyond, the step fails"
    )
    runs: int = Field(
        1000, ge=1, description="most runs this daemon runs at once; beyond, submissions get 429"
    )


class DebugConfig(Section):
    slow_callback: Duration | None = Field(
        0.1,
        description="log (with its stack) and count any event-loop callback longer than this; "
        "null: off",
    )


class ConfigFields(Section):
    """Everything `mastermind serve` reads (as a plain model: the YAML file is checked alone)."""

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
    log_format: Literal["text", "json"] = Field(
        "text", description="json: one object per line, for journald and Loki"
    )


ENV_PREFIX = "MASTERMIND_"
# The command line's own variables: not daemon options, never warned about.
CLI_VARIABLES = frozenset(
    {"STATE_DIR", "DSN", "SQLITE_SYNCHRONOUS", "URL", "TOKEN", "CONFIG", "LOG_FORMAT"}
)
PATH_OPTIONS = (("workflows",), ("store", "state_dir"))  # relative to the config file's folder


class ConfigError(MastermindError):
    """The configuration is invalid; `problems` point into the file where they can."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))


class Config(BaseSettings, ConfigFields):
    """The daemon's configuration: the file's options, overridden by credentials and the
    environment (see the module docstring)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        case_sensitive=False,
        extra="forbid",
        validate_default=False,  # defaults are already values (Durations in seconds)
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # the file comes in as init arguments: the lowest priority, above the defaults
        return (_Environment(settings_cls), *_credentials(settings_cls), init_settings)


def load_config(path: str | Path | None, environ: Mapping[str, str] | None = None) -> Config:
    """Read the file (if any), apply credentials and MASTERMIND_* overrides, validate."""
    environ = dict(os.environ if environ is None else environ)
    data: dict[str, Any] = {}
    if path is not None:
        data = _read_file(Path(path))
    for warning in unknown_variables(environ):
        log.warning("%s", warning)
    token = _ENVIRON.set(environ)
    try:
        config = Config(**data)
    except ValidationError as exc:
        raise ConfigError([_describe(error, environ) for error in exc.errors()]) from None
    finally:
        _ENVIRON.reset(token)
    _warn_if_replays_outlive_runs(config)
    return config


def _warn_if_replays_outlive_runs(config: ConfigFields) -> None:
    """The run a webhook delivery started is its dedup record. A delivery taken at time t may
    carry a timestamp up to t + tolerance, so its replays pass the timestamp check until
    t + 2 * tolerance: its run should be kept longer than that. A warning, not an error: a
    daemon that serves no webhook may prune as it likes. Here, once per load (as a model
    validator it ran twice: pydantic-settings validates the class and its base)."""
    retention, tolerance = config.store.retention, config.api.webhook_tolerance
    if retention is not None and retention <= 2 * tolerance:
        log.warning(
            "store.retention (%gs) is not longer than twice api.webhook_tolerance (%gs): "
            "a webhook delivery replayed after its run was pruned would start a new run",
            retention,
            tolerance,
        )


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise MastermindError(f"cannot read config {path}: {exc.strerror}") from None
    try:
        source = load_yaml(text, str(path))
    except WorkflowError as exc:
        raise ConfigError([str(p) for p in exc.problems]) from None
    if source.data is None:
        return {}
    if not isinstance(source.data, dict):
        raise ConfigError([f"{path}: the config is a mapping of sections"])
    try:
        ConfigFields.model_validate(source.data)  # alone, so errors point into the file
    except ValidationError as exc:
        raise ConfigError([str(p) for p in shape_problems(exc, source, ConfigFields)]) from None
    data: dict[str, Any] = source.data
    folder = path.resolve().parent
    for option in PATH_OPTIONS:
        *sections, name = option
        section: Any = data
        for part in sections:
            section = section.get(part) if isinstance(section, dict) else None
        value = section.get(name) if isinstance(section, dict) else None
        if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            section[name] = str(folder / value)
    return data


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """Warnings for MASTERMIND_* variables that name no option (a typo, or a stale setting)."""
    warnings = []
    for key in sorted(environ):
        if not key.upper().startswith(ENV_PREFIX):
            continue
        rest = key[len(ENV_PREFIX) :].upper()
        if rest in CLI_VARIABLES:
            continue
        parts = rest.lower().split("__")
        known, guess = _known_path(parts)
        if not known:
            hint = f" (did you mean {ENV_PREFIX}{guess.upper()}?)" if guess else ""
            warnings.append(f"ignoring {key}: no such option{hint}")
    return warnings


def _known_path(parts: list[str]) -> tuple[bool, str | None]:
    """Whether `parts` names an option, and if not, the nearest option path."""
    model: type[BaseModel] | None = ConfigFields
    done: list[str] = []
    for part in parts:
        if model is None:
            return True, None  # inside a mapping option (e.g. limits.pools.NAME): any key
        names = {(f.alias or n): f for n, f in model.model_fields.items()}
        field = names.get(part)
        if field is None:
            match = difflib.get_close_matches(part, list(names), n=1, cutoff=0.6)
            return False, "__".join([*done, match[0]]) if match else None
        done.append(part)
        model = _section(field)
        if model is None and not _is_mapping(field) and part != parts[-1]:
            return False, "__".join(done)
    return True, None


def _section(field: FieldInfo) -> type[BaseModel] | None:
    kind = field.annotation
    return kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None


def _is_mapping(field: FieldInfo) -> bool:
    return getattr(field.annotation, "__origin__", None) is dict


def _describe(error: Any, environ: Mapping[str, str]) -> str:
    loc = [str(p) for p in error["loc"]]
    variable = ENV_PREFIX + "__".join(loc).upper()
    where = variable if variable in {k.upper() for k in environ} else ".".join(loc)
    return f"{where}: {error['msg']}"


class _Environment(EnvSettingsSource):
    """MASTERMIND_* variables, read as YAML, unknown ones left out (they were warned about)."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = _ENVIRON.get()
        known = {
            key.lower(): value
            for key, value in environ.items()
            if key.upper().startswith(ENV_PREFIX)
            and key[len(ENV_PREFIX) :].upper() not in CLI_VARIABLES
            and _known_path(key[len(ENV_PREFIX) :].lower().split("__"))[0]
        }
        return known

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        return yaml.safe_load(value) if isinstance(value, str) else value


class _SecretFiles(SecretsSettingsSource):
    """pydantic-settings' secrets_dir: a file per top-level option, its content YAML."""

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        return yaml.safe_load(value) if isinstance(value, str) else value


class _Credentials(PydanticBaseSettingsSource):
    """systemd credentials by this project's names: `api-tokens` and `secret-NAME` files."""

    def __init__(self, settings_cls: type[BaseSettings], folder: Path) -> None:
        super().__init__(settings_cls)
        self.folder = folder

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything is done in __call__

    def __call__(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        tokens_file = self.folder / "api-tokens"
        if tokens_file.is_file():
            tokens = [t.strip() for t in tokens_file.read_text().splitlines() if t.strip()]
            data["api"] = {"tokens": tokens}
        for secret in sorted(self.folder.glob("secret-*")):
            name = secret.name[len("secret-") :]
            data.setdefault("secrets", {})[name] = secret.read_text().strip()
        return data


def _credentials(settings_cls: type[BaseSettings]) -> list[PydanticBaseSettingsSource]:
    folder = _ENVIRON.get().get("CREDENTIALS_DIRECTORY")
    if not folder or not Path(folder).is_dir():
        return []
    return [
        _Credentials(settings_cls, Path(folder)),
        _SecretFiles(settings_cls, secrets_dir=folder, env_prefix=ENV_PREFIX),
    ]


# The environment load_config was given (sources are built inside pydantic-settings, which
# passes them nothing of ours). `Config()` alone sees none: only its defaults.
_ENVIRON: ContextVar[Mapping[str, str]] = ContextVar(
    "mastermind_config_environ", default=MappingProxyType({})
)
