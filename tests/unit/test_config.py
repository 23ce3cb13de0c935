"""Settings from the environment and the production secret check."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from api.cli import main
from fieldcheck.config import DEV_SECRET_KEY, Settings
from fieldcheck.errors import ConfigurationError


def test_settings_read_the_environment():
    settings = Settings.from_env(
        {
            "FIELDCHECK_DATABASE_URL": "postgresql://db/x",
            "FIELDCHECK_REDIS_URL": "redis://r",
            "FIELDCHECK_MODE": "dev",
        }
    )
    assert settings.database_url == "postgresql://db/x"
    assert settings.redis_url == "redis://r"
    assert settings.secret_key == DEV_SECRET_KEY


def test_unknown_mode_is_refused():
    with pytest.raises(ConfigurationError, match="FIELDCHECK_MODE"):
        Settings.from_env({"FIELDCHECK_MODE": "staging"})


@pytest.mark.parametrize(
    "secret, message",
    [
        (None, "is not set"),
        (DEV_SECRET_KEY, "built-in development secret"),
        ("short", "shorter than 32"),
    ],
)
def test_production_refuses_missing_default_or_weak_secret(secret, message):
    env = {"FIELDCHECK_SECRET_KEY": secret} if secret else {}
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env(env).check_secret()


def test_production_accepts_a_strong_secret():
    Settings.from_env({"FIELDCHECK_SECRET_KEY": "s" * 40}).check_secret()


def test_serve_refuses_to_start_in_production_without_a_secret(monkeypatch):
    monkeypatch.delenv("FIELDCHECK_SECRET_KEY", raising=False)
    monkeypatch.delenv("FIELDCHECK_MODE", raising=False)
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 2
    assert "FIELDCHECK_SECRET_KEY is not set" in result.output
