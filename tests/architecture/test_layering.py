"""The architecture, tested: Airflow stays in orchestration/ and dags/, heavy imports stay out of parse time."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "plugins" / "booktransfer"
HEAVY = ("pandas", "pyarrow", "great_expectations", "paramiko", "faker")


def _imports(path: Path, module_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_orchestration_imports_airflow():
    """Nothing outside orchestration/ (and dags/) imports airflow, so every stage runs without it."""
    offenders = [
        str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")
        if "orchestration" not in p.parts and "airflow" in _imports(p)
    ]
    assert offenders == []


def test_orchestration_and_pipeline_import_nothing_heavy_at_module_level():
    """Modules the DAG file pulls in at parse time keep pandas, pyarrow, GX and paramiko inside functions."""
    parse_time = [*(PACKAGE / "orchestration").glob("*.py"), PACKAGE / "pipeline.py", PACKAGE / "errors.py"]
    offenders = {str(p.relative_to(ROOT)): sorted(_imports(p, True) & set(HEAVY)) for p in parse_time}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_module_shadows_a_stdlib_or_third_party_name():
    """Airflow's plugin loader imports files by stem; a json.py or yaml.py would replace the real module."""
    reserved = set(sys.stdlib_module_names) | {"yaml", "pandas", "pyarrow", "airflow", "sqlalchemy", "stdnum",
                                               "faker", "paramiko", "cryptography", "pydantic", "utils", "helpers"}
    clashes = [str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py") if p.stem in reserved]
    assert clashes == []


def test_airflowignore_keeps_the_plugin_loader_out_of_the_library():
    """plugins/.airflowignore lists booktransfer/, so Airflow never executes our modules as plugins."""
    lines = (ROOT / "plugins" / ".airflowignore").read_text().split()
    assert "booktransfer/" in lines


def test_every_package_folder_has_an_init():
    """Every folder of the library is a regular package (modules_management rule)."""
    missing = [str(d.relative_to(ROOT)) for d in PACKAGE.rglob("*") if d.is_dir() and d.name != "__pycache__"
               and any(d.glob("*.py")) and not (d / "__init__.py").exists()]
    assert missing == []


_PROBE = """
import json, sys, time, runpy
sys.path.insert(0, {plugins!r})
import airflow.sdk  # already loaded in the DAG processor; not ours to count
t = time.perf_counter()
runpy.run_path({dag!r})
print(json.dumps({{"seconds": time.perf_counter() - t, "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def test_dag_file_parses_fast_without_heavy_imports():
    """Importing the DAG file loads none of pandas/pyarrow/GX/paramiko and takes well under a second."""
    code = _PROBE.format(plugins=str(ROOT / "plugins"), dag=str(ROOT / "dags" / "portfolio_transfer.py"),
                         heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    assert probe["heavy"] == []
    assert probe["seconds"] < 1.0
