"""`reconciliation.html`: one self-contained page an auditor can read, labels in Chinese and English.

Verdict first, then the conservation equation per entity, joined files, control totals, consent
distribution, record-level differences and rejects by reason (as simple bar charts). No scripts, no
external resources; counts, codes and ids only, never a field value.
"""

from __future__ import annotations

from html import escape
from typing import Any

_CSS = """
body{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",Arial,sans-serif;margin:2em auto;max-width:1100px;
color:#1b1b1b;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ccc}
.verdict{padding:1em 1.4em;border-radius:6px;font-size:1.3em;font-weight:bold;margin:1em 0}
.pass{background:#e3f4e6;border:2px solid #2e7d32;color:#1b5e20}.fail{background:#fdecea;border:2px solid #c62828;
color:#b71c1c}
table{border-collapse:collapse;width:100%;margin:.6em 0}th,td{border:1px solid #ddd;padding:.35em .6em;text-align:left}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}.ok{color:#2e7d32}.bad{color:#c62828;
font-weight:bold}.bar{background:#5c6bc0;height:.9em;display:inline-block;vertical-align:middle}
.meta td:first-child{width:30%;color:#555}.small{color:#666;font-size:.9em}
"""


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return f'<td class="{"ok" if value else "bad"}">{"✓ 是 yes" if value else "✗ 否 NO"}</td>'
    if isinstance(value, int | float):
        return f'<td class="num">{value:,}</td>'
    return f"<td>{escape(str(value))}</td>"


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _bars(counts: dict[str, int]) -> str:
    if not counts:
        return '<p class="small">无 none</p>'
    top = max(counts.values()) or 1
    rows = [[reason, n, f'<span class="bar" style="width:{max(2, int(300 * n / top))}px"></span>']
            for reason, n in sorted(counts.items(), key=lambda kv: -kv[1])]
    body = "".join(f"<tr><td>{escape(r)}</td><td class='num'>{n:,}</td><td>{bar}</td></tr>" for r, n, bar in rows)
    return f"<table><tr><th>原因 Reason</th><th>行数 Rows</th><th></th></tr>{body}</table>"


def _conservation(entities: dict[str, Any]) -> str:
    rows = [[name, b["source_rows"], b["loaded"], b["quarantined"], b.get("suppressed", 0), b.get("merged", 0),
             b["equation"], b["holds"]] for name, b in entities.items()]
    table = _table(["实体 Entity", "源行数 Source", "已加载 Loaded", "隔离 Quarantined", "已屏蔽 Suppressed",
                    "已合并 Merged", "等式 Equation", "成立 Holds"], rows)
    joined = [[f"{name} / {alias}", j["source_file"], j["rows"], j["matched"], j["quarantined"], j["holds"]]
              for name, b in entities.items() for alias, j in b.get("joined_files", {}).items()]
    if joined:
        table += "<h3>关联文件 Joined files</h3>" + _table(
            ["实体/别名 Entity/alias", "文件 File", "行数 Rows", "已匹配 Matched", "隔离 Quarantined", "成立 Holds"],
            joined)
    return table


def _generic(section: Any) -> str:
    """Render a list of flat dicts as a table (control totals, consent, differences)."""
    if isinstance(section, dict):
        return "".join(f"<h3>{escape(str(k))}</h3>{_generic(v)}" for k, v in section.items())
    if isinstance(section, list) and section and all(isinstance(r, dict) for r in section):
        headers = list(dict.fromkeys(k for r in section for k in r))
        return _table(headers, [[r.get(h, "") for h in headers] for r in section])
    return f"<p>{escape(str(section))}</p>" if section not in (None, [], {}) else '<p class="small">无 none</p>'


def render_html(report: dict[str, Any]) -> str:
    """The whole page for one reconciliation report."""
    passed = report["verdict"] == "PASS"
    verdict = ("通过 PASS — 每条源记录均已加载或隔离，数量守恒" if passed
               else "未通过 FAIL — " + ", ".join(report.get("failed_entities", []) or ["see below"]))
    meta = [["转移编号 Transfer id", report["transfer_id"]], ["运行编号 Run id", report["run_id"]],
            ["映射集 Mapping set", f"{report['mapping_set']} {report['mapping_version']}"],
            ["目标库 Target", report.get("target", "")],
            ["试运行 Dry run", "是 yes" if report.get("dry_run") else "否 no"],
            ["生成时间 Generated at", report.get("generated_at", "")],
            ["程序版本 Code version", report.get("code_version", "")],
            ["密钥编号 Key ids (never keys)", ", ".join(f"{k}: {v}" for k, v in report.get("key_ids", {}).items())]]
    rejects: dict[str, int] = {}
    for b in report["entities"].values():
        for reason, n in b.get("rejects_by_reason", {}).items():
            rejects[reason] = rejects.get(reason, 0) + n
    parts = [
        "<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'>",
        f"<title>对账报告 Reconciliation report — {escape(report['transfer_id'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>客户数据迁移对账报告<br><small>Customer book transfer — reconciliation report</small></h1>",
        f"<div class='verdict {'pass' if passed else 'fail'}'>{escape(verdict)}</div>",
        "<table class='meta'>" + "".join(f"<tr><td>{escape(k)}</td><td>{escape(str(v))}</td></tr>"
                                          for k, v in meta) + "</table>",
        "<h2>守恒等式 Conservation: source = loaded + quarantined + suppressed + merged</h2>",
        _conservation(report["entities"]),
    ]
    for key, title in (("record_level", "逐条核对 Record-level reconciliation"),
                       ("control_totals", "控制总数 Control totals (source vs target)"),
                       ("consent_distribution", "同意分布 Consent distribution (before / after)"),
                       ("load_plan", "同意、数据主体请求与告知 Consent carried over, data-subject requests, notices")):
        if key in report:
            parts += [f"<h2>{title}</h2>", _generic(report[key])]
    parts += ["<h2>隔离原因 Rejects by reason</h2>", _bars(rejects),
              "<p class='small'>隔离明细见 quarantine.csv（仅含源文件行号与原因，不含字段值）。"
              "Details in quarantine.csv: source file:line and reason only, never field values.</p>",
              "</body></html>"]
    return "\n".join(parts)
