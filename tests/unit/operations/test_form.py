"""booktransfer.operations.form: the form's settings as JSON Schema, and settings files that pre-fill a run."""

from __future__ import annotations

import json

import pytest

from booktransfer.errors import SettingsError
from booktransfer.operations.form import (
    all_settings,
    defaults,
    example_settings_file,
    form_schema,
    read_settings_file,
    validation_errors,
)


def test_every_setting_is_titled_described_and_sectioned():
    """The one definition the DAG's params are built from."""
    names = [s.name for s in all_settings()]
    assert len(names) == len(set(names))
    for s in all_settings():
        assert s.schema["title"] and len(s.schema["description"]) > 20 and s.section


def test_the_defaults_pass_the_schema():
    """A conf of only defaults is valid (the form opens with them)."""
    assert validation_errors(defaults()) == []


def test_a_settings_file_fills_in_the_defaults_and_reads_dates(tmp_path):
    """YAML dates become ISO strings; missing settings take their defaults; the result is JSON."""
    path = tmp_path / "deal.yaml"
    path.write_text("transfer_id: deal-2026-q3\npipia_reference: PIPIA-2026-014\npipia_approved_on: 2026-03-01\n"
                    "cross_border_destinations:\n  - {jurisdiction: HK, recipient: Buyer Group (HK) Ltd,\n"
                    "     mechanism: STANDARD_CONTRACT, reference: SC-2026-001}\n", encoding="utf-8")
    conf = read_settings_file(path)
    assert conf["transfer_id"] == "deal-2026-q3" and conf["pipia_approved_on"] == "2026-03-01"
    assert conf["cross_border_destinations"][0]["mechanism"] == "STANDARD_CONTRACT"
    assert conf["mapping_set"] == defaults()["mapping_set"] and set(conf) == set(defaults())
    assert json.loads(json.dumps(conf)) == conf


@pytest.mark.parametrize(("text", "named"), [
    ("transfer_id: ok\nsftp_password: hunter2\n", "unknown setting(s) sftp_password"),
    ("partitions: 100\n", "partitions: fails 'maximum'"),
    ("legal_route: ART99\n", "legal_route: fails 'enum'"),
    ("recipient_contact: Officer Li 13912345678\n", "recipient_contact: holds what looks like a mobile"),
    ("pipia_approved_on: 31/12/2025\n", "pipia_approved_on: fails 'format'"),
    ("cross_border_destinations: [{jurisdiction: HK}]\n", "cross_border_destinations.0: fails 'required'"),
])
def test_a_bad_settings_file_names_the_setting_never_the_value(tmp_path, text, named):
    """Each problem names the setting and the rule; a personal number is refused without being repeated."""
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError, match="bad.yaml") as caught:
        read_settings_file(path)
    assert named in str(caught.value)
    assert "13912345678" not in str(caught.value) and "hunter2" not in str(caught.value)


def test_a_settings_file_that_is_not_a_mapping_or_not_yaml_is_refused(tmp_path):
    """A list, or broken YAML (with its line), is refused."""
    (tmp_path / "list.yaml").write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="mapping of setting names"):
        read_settings_file(tmp_path / "list.yaml")
    (tmp_path / "broken.yaml").write_text("transfer_id: a\n  bad: [\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"broken.yaml:\d+: not a YAML file"):
        read_settings_file(tmp_path / "broken.yaml")
    with pytest.raises(SettingsError, match="not found"):
        read_settings_file(tmp_path / "missing.yaml")


def test_the_example_file_reads_back_as_the_defaults(tmp_path):
    """`booktransfer settings example` is a valid settings file equal to the form's defaults."""
    path = tmp_path / "example.yaml"
    path.write_text(example_settings_file(), encoding="utf-8")
    assert read_settings_file(path) == defaults()
    assert "# --- Compliance" in example_settings_file()


def test_the_form_schema_refuses_unknown_settings():
    """additionalProperties is false: a typo never passes silently."""
    assert form_schema()["additionalProperties"] is False
    assert validation_errors({"transfer_idd": "x"}) == ["settings: unknown setting(s) transfer_idd"]
