"""booktransfer.load.settings and the stage's as-of date."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from booktransfer.load.settings import TransferSettings, as_of_date
from booktransfer.load.stage import run_as_of
from booktransfer.pipeline import RunContext


def test_from_params_resolves_relative_paths_and_keeps_defaults(tmp_path):
    """Relative request files are read from the project folder; missing params take the defaults."""
    settings = TransferSettings.from_params({"suppression_file": " requests.csv ", "buyer_purposes": ["SERVICING"]},
                                            tmp_path)
    assert settings.suppression_file == tmp_path / "requests.csv"
    assert settings.buyer_purposes == ("SERVICING",)
    assert settings.recipient_name == TransferSettings().recipient_name
    assert TransferSettings.from_params({"reconsent_file": "/abs/r.csv"}, tmp_path).reconsent_file == Path(
        "/abs/r.csv")


def test_as_of_date_parses_or_defaults_to_a_date():
    """A given date wins; empty means today (a date either way)."""
    assert as_of_date("2025-12-31") == date(2025, 12, 31)
    assert as_of_date(date(2024, 2, 29)) == date(2024, 2, 29)
    assert isinstance(as_of_date(""), date)


def test_load_uses_the_as_of_date_protect_recorded(tmp_path):
    """Without a setting, the load takes protect's as-of date, so one run never straddles two days."""
    ctx = RunContext("t", "r", "example_seller", "sqlite://", staging_root=tmp_path)
    ctx.run_dir.mkdir(parents=True)
    (ctx.run_dir / "protect.json").write_text(json.dumps({"as_of": "2025-06-30"}))
    assert run_as_of(ctx) == date(2025, 6, 30)
    assert run_as_of(RunContext("t", "r", "m", "sqlite://", staging_root=tmp_path, as_of=date(2024, 1, 1))) == date(
        2024, 1, 1)
