"""The daemon configuration: the shipped file, environment overrides, credentials, errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mastermind.errors import MastermindError
from mastermind.service.config import Config, load_config

SHIPPED = Path(__file__).resolve().parent.parent / "config" / "mastermind.yaml"


def test_shipped_file_is_the_defaults() -> None:
    shipped = load_config(SHIPPED, environ={})
    assert shipped.workflows == SHIPPED.parent / "workflows"  # relative to the file's folder
    assert shipped.model_dump(exclude={"workflows"}) == Config().model_dump(exclude={"workflows"})


def test_shipped_file_documents_every_option() -> None:
    text = SHIPPED.read_text()
    for name, field in Config.model_fields.items():
        assert f"{field.alias or name}:" in text, name
        annotation = field.annotation
        sub = getattr(annotation, "model_fields", None)
        for inner_name, inner in (sub or {}).items():
            assert f"  {inner.alias or inner_name}:" in text, f"{name}.{inner_name}"


def test_environment_overrides(tmp_path: Path) -> None:
    config = load_config(
        SHIPPED,
        environ={
            "MASTERMIND_API__PORT": "9100",
            "MASTERMIND_STORE__LEASE": "30s",
            "MASTERMIND_LIMITS__POOLS": "{github: 3}",
            "MASTERMIND_STATE_DIR": "/ignored/here",  # the CLI's variable, not a config option
            "MASTERMIND_API__TOKENS": "[a, b]",
            "MASTERMIND_API__WEBHOOK_TOLERANCE": "90s",
        },
    )
    assert config.api.webhook_tolerance == 90.0
    assert config.api.tokens == ["a", "b"]
    assert config.api.port == 9100
    assert config.store.lease == 30.0
    assert config.limits.pools == {"github": 3}


def test_credentials_directory(tmp_path: Path) -> None:
    (tmp_path / "api-tokens").write_text("one\ntwo\n\n")
    (tmp_path / "secret-openai").write_text("sk-123\n")
    config = load_config(None, environ={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert config.api.tokens == ["one", "two"]
    assert config.secrets == {"openai": "sk-123"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("api: {port: http}\n", "bad.yaml:1:13: error: api.port: expected an integer"),
        (
            "api:\n  prot: 1\n",
            "bad.yaml:2:3: error: api.prot: unknown field 'prot' (did you mean 'port'?)",
        ),
        (
            "store: {lease: 15}\n",
            "bad.yaml:1:16: error: store.lease: expected a duration with a unit",
        ),
        ("stor: {}\n", "(did you mean 'store'?)"),
        ("- not a mapping\n", "mapping of sections"),
        ("api: [\n", "bad.yaml:2:1: error"),
        (
            "api: {webhook_tolerance: 0s}\n",
            "bad.yaml:1:26: error: api.webhook_tolerance: input should be greater than or equal",
        ),
        (  # timestamps are whole seconds (before: accepted)
            "api: {webhook_tolerance: 1ms}\n",
            "bad.yaml:1:26: error: api.webhook_tolerance: input should be greater than or equal",
        ),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(MastermindError) as caught:
        load_config(path, environ={})
    assert message in str(caught.value)


def test_a_retention_shorter_than_the_webhook_replay_window_is_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "short.yaml"
    path.write_text("store: {retention: 10m}\n")  # 5 minutes either way: a replay outlives it
    assert load_config(path, environ={}).store.retention == 600.0
    warning = "store.retention (600s) is not longer than twice api.webhook_tolerance (300s)"
    assert caplog.text.count(warning) == 1  # before: twice
    caplog.clear()
    path.write_text("store: {retention: 10m}\napi: {webhook_tolerance: 4m}\n")
    assert load_config(path, environ={}).api.webhook_tolerance == 240.0
    assert "retention" not in caplog.text


def test_unknown_variable_is_a_warning_with_a_guess(caplog: pytest.LogCaptureFixture) -> None:
    environ = {"MASTERMIND_API__PROT": "1", "MASTERMIND_LOG_LEVLE": "DEBUG", "MASTERMIND_X": "1"}
    with caplog.at_level(logging.WARNING, logger="mastermind.service.config"):
        config = load_config(None, environ=environ)
    assert config.api.port == Config().api.port
    warned = [r.getMessage() for r in caplog.records]
    assert (
        "ignoring MASTERMIND_API__PROT: no such option (did you mean MASTERMIND_API__PORT?)"
        in warned
    )
    assert (
        "ignoring MASTERMIND_LOG_LEVLE: no such option (did you mean MASTERMIND_LOG_LEVEL?)"
        in warned
    )
    assert "ignoring MASTERMIND_X: no such option" in warned


def test_bad_variable_names_the_variable() -> None:
    with pytest.raises(MastermindError, match=r"MASTERMIND_API__PORT: .*integer"):
        load_config(None, environ={"MASTERMIND_API__PORT": "http"})


def test_relative_paths_resolve_against_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "m.yaml").write_text("workflows: flows\nstore: {state_dir: state}\n")
    config = load_config(folder / "m.yaml", environ={})
    assert config.workflows == folder / "flows"
    assert config.store.state_dir == folder / "state"
    absolute = load_config(folder / "m.yaml", environ={"MASTERMIND_WORKFLOWS": "/srv/flows"})
    assert absolute.workflows == Path("/srv/flows")


def test_secrets_dir_file_per_option(tmp_path: Path) -> None:
    """pydantic-settings' secrets_dir convention, read from the systemd credentials folder."""
    (tmp_path / "mastermind_store").write_text("{dsn: 'postgresql://db/x', lease: 20s}\n")
    config = load_config(None, environ={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert config.store.dsn == "postgresql://db/x"
    assert config.store.lease == 20.0
    over = load_config(
        None,
        environ={"CREDENTIALS_DIRECTORY": str(tmp_path), "MASTERMIND_STORE__LEASE": "5s"},
    )
    assert over.store.lease == 5.0 and over.store.dsn == "postgresql://db/x"  # env wins, merged


def test_missing_file() -> None:
    with pytest.raises(MastermindError, match="cannot read config"):
        load_config("/no/such/file.yaml", environ={})
