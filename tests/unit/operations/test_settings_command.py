"""`booktransfer settings render|example`: a settings file in, the conf of a DAG run out; bad files refused."""

from __future__ import annotations

import json
from datetime import date, timedelta

from booktransfer.cli import main
from booktransfer.operations.form import defaults


def test_render_prints_the_full_conf_and_check_passes(tmp_path, capsys):
    """A current assessment and the seller's purposes: exit 0, the conf on stdout (defaults filled in)."""
    approved = (date.today() - timedelta(days=10)).isoformat()
    path = tmp_path / "deal.yaml"
    path.write_text(f"transfer_id: deal-1\npipia_reference: PIPIA-1\npipia_approved_on: {approved}\n",
                    encoding="utf-8")
    assert main(["settings", "render", str(path), "--check", "--compact"]) == 0
    out, err = capsys.readouterr()
    conf = json.loads(out)
    assert conf == {**defaults(), "transfer_id": "deal-1", "pipia_reference": "PIPIA-1",
                    "pipia_approved_on": approved}
    assert len(out.strip().splitlines()) == 1 and "compliance gate would pass" in err


def test_check_fails_with_the_gates_findings(tmp_path, capsys):
    """No assessment and a purpose beyond consent: exit 1, each finding on stderr, no conf printed."""
    path = tmp_path / "deal.yaml"
    path.write_text("transfer_id: deal-1\nbuyer_purposes: [SERVICING, CROSS_SELL]\n", encoding="utf-8")
    assert main(["settings", "render", str(path), "--check"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "PIPIA_MISSING [R31]" in err and "PURPOSE_NOT_PERMITTED [R05]" in err
    assert main(["settings", "render", str(path)]) == 0  # without --check: only the form's schema
    assert json.loads(capsys.readouterr().out)["buyer_purposes"] == ["SERVICING", "CROSS_SELL"]


def test_a_file_breaking_the_schema_exits_2(tmp_path, capsys):
    """Unknown settings are an error of the file, exit 2, naming them."""
    path = tmp_path / "bad.yaml"
    path.write_text("transfer_id: x\ntarget_password: hunter2\n", encoding="utf-8")
    assert main(["settings", "render", str(path)]) == 2
    err = capsys.readouterr().err
    assert "unknown setting(s) target_password" in err and "hunter2" not in err


def test_example_prints_every_setting(capsys):
    """The example names every setting of the form."""
    assert main(["settings", "example"]) == 0
    out = capsys.readouterr().out
    assert all(f"\n{name}: " in out for name in defaults())
