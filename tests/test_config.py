"""The daemon configuration: the shipped file, environment overrides, credentials, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mastermind.errors import MastermindError
from mastermind.service.config import Config, load_config

SHIPPED = Path(__file__).resolve().parent.parent / "config" / "mastermind.yaml"


def test_shipped_file_is_the_defaults() -> None:
    shipped = load_config(SHIPPED, environ={})
    assert shipped.model_dump() == Config().model_dump()


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
        },
    )
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
        ("api: {port: http}\n", "api.port"),
        ("api: {prot: 1}\n", "api.prot"),
        ("store: {lease: 15}\n", "store.lease"),
        ("- not a mapping\n", "mapping of sections"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(MastermindError, match=message.replace(".", r"\.")):
        load_config(path, environ={})


def test_missing_file() -> None:
    with pytest.raises(MastermindError, match="cannot read config"):
        load_config("/no/such/file.yaml", environ={})
