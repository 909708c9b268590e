"""Test-wide settings: an isolated Airflow home, no example DAGs, and the project as BOOKTRANSFER_HOME."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Set before anything imports airflow: its configuration is read once, at import.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="bt-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}"
os.environ["BOOKTRANSFER_HOME"] = str(ROOT)
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
