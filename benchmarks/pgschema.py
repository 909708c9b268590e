"""A fresh PostgreSQL schema for one benchmark measurement (shared by the benchmark scripts)."""

from __future__ import annotations

import uuid
from pathlib import Path

DDL = Path(__file__).resolve().parents[1] / "schemas" / "example_buyer" / "ddl.sql"


class Schema:
    """A fresh schema (with the buyer DDL's tables unless ddl=False), dropped on exit unless `keep`.

    `with Schema(url, "label") as schema_url:` gives a URL whose search_path is the new schema."""

    keep = False

    def __init__(self, base_url: str, label: str, ddl: bool = True) -> None:
        self.base_url, self.ddl = base_url, ddl
        self.name = f"bench_{label}_{uuid.uuid4().hex[:8]}"

    def __enter__(self) -> str:
        import psycopg

        from booktransfer.load.target import ddl_statements

        with psycopg.connect(self.base_url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{self.name}"')
            if self.ddl:
                conn.execute(f'SET search_path TO "{self.name}"')
                for stmt in ddl_statements(DDL):
                    conn.execute(stmt)
        sep = "&" if "?" in self.base_url else "?"
        return f"{self.base_url}{sep}options=-csearch_path%3D{self.name}"

    def __exit__(self, *exc: object) -> None:
        import psycopg

        if not self.keep:
            with psycopg.connect(self.base_url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{self.name}" CASCADE')
