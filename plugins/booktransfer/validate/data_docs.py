"""Data Docs for one run, rendered by Great Expectations' own renderers into the report folder.

Layout (as a GX Data Docs site, so GX's relative links work):
`data_docs/index.html`, `data_docs/expectations/<suite>.html`,
`data_docs/validations/<suite>/<run>/<time>/<batch>.html`, `data_docs/static/`.
The validation results rendered here went through `gx_suite.sanitize` (counts only); the pages carry no
field value. The index is booktransfer's own small page listing the suites and the verdicts.
"""

from __future__ import annotations

import html
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from booktransfer.pipeline import safe_segment

DOCS_DIR = "data_docs"


@dataclass(frozen=True)
class EntityDocs:
    """What one entity's pages show: the suite, its sanitised validation result, and the stage's counts."""

    entity: str
    suite: Any
    result: Any
    counts: dict[str, Any]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _validation_page(view: Any, docs: EntityDocs, run_name: str, run_time: datetime) -> str:
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.render.renderer import ValidationResultsPageRenderer

    docs.result.meta["run_id"] = RunIdentifier(run_name=run_name, run_time=run_time)
    return view.render(ValidationResultsPageRenderer().render(docs.result))


def _suite_page(view: Any, docs: EntityDocs) -> str:
    from great_expectations.render.renderer import ExpectationSuitePageRenderer

    return view.render(ExpectationSuitePageRenderer().render(docs.suite))


def _index(entities: list[tuple[EntityDocs, str]], transfer_id: str, run_name: str) -> str:
    rows = []
    for docs, link in entities:
        c = docs.counts
        verdict = "passed" if docs.result.success else "rows quarantined"
        rows.append(
            f"<tr><td>{html.escape(docs.entity)}</td><td><a href='{html.escape(link)}'>{html.escape(verdict)}</a>"
            f"</td><td><a href='expectations/{html.escape(docs.suite.name)}.html'>{html.escape(docs.suite.name)}</a>"
            f"</td><td>{c.get('rows_in', '')}</td><td>{c.get('rows_valid', '')}</td>"
            f"<td>{c.get('rows_quarantined_primary', '')}</td><td>{c.get('rows_quarantined_cascade', '')}</td>"
            f"<td>{c.get('rows_merged', '')}</td><td>{c.get('rows_warned', '')}</td></tr>")
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>booktransfer validation</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:.3em .6em}"
        "table{border-collapse:collapse}</style></head><body>"
        f"<h1>Validation of transfer {html.escape(transfer_id)}, run {html.escape(run_name)}</h1>"
        "<p>Rendered by Great Expectations from value-free results: counts and rule descriptions only. "
        "Quarantined rows are listed by source file and line in the run's quarantine files.</p>"
        "<table><tr><th>entity</th><th>validation result</th><th>suite</th><th>rows mapped</th><th>valid</th>"
        "<th>quarantined (own defect)</th><th>held back (cascade)</th><th>merged</th><th>warned</th></tr>"
        + "".join(rows) + "</table></body></html>\n")


def write_data_docs(report_dir: Path, transfer_id: str, run_name: str, entities: list[EntityDocs]) -> Path:
    """Render every entity's suite and validation result; return the index page."""
    from great_expectations.render import view
    from great_expectations.render.view import DefaultJinjaPageView

    page_view = DefaultJinjaPageView()  # one Jinja environment: each template is compiled once
    site = report_dir / DOCS_DIR
    if site.exists():
        shutil.rmtree(site)
    static = Path(view.__file__).parent / "static"
    if static.is_dir():
        shutil.copytree(static, site / "static")
    run_time = datetime.now(UTC)
    listed, suites = [], set()
    for docs in entities:
        if docs.suite.name not in suites:  # a partitioned run lists each partition's result; a suite has one page
            suites.add(docs.suite.name)
            _write(site / "expectations" / f"{docs.suite.name}.html", _suite_page(page_view, docs))
        link = Path("validations") / docs.suite.name / safe_segment(run_name) / run_time.strftime(
            "%Y%m%dT%H%M%S.%fZ") / f"{docs.entity}.html"
        _write(site / link, _validation_page(page_view, docs, run_name, run_time))
        listed.append((docs, link.as_posix()))
    index = site / "index.html"
    _write(index, _index(listed, transfer_id, run_name))
    return index
