#!/usr/bin/env bash
# Runs once, when the postgres container starts on an empty data volume (postgres:16 runs every
# *.sh in /docker-entrypoint-initdb.d). The server's own database `airflow` is Airflow's metadata
# DB; this adds the buyer's database `buyer`, owned by a login role `buyer` whose password comes
# from BUYER_DB_PASSWORD (docker-compose.yml passes it from .env). Changing BUYER_DB_PASSWORD later
# does not change the role: ALTER ROLE it by hand, or start from an empty volume.
set -eo pipefail

if [[ -z "${BUYER_DB_PASSWORD:-}" ]]; then
    echo "10-create-buyer-db.sh: BUYER_DB_PASSWORD is not set" >&2
    exit 1
fi

# psql substitutes :'buyer_password' as a quoted literal; the heredoc is quoted, so the shell does not.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v buyer_password="$BUYER_DB_PASSWORD" <<'SQL'
CREATE ROLE buyer LOGIN PASSWORD :'buyer_password';
CREATE DATABASE buyer OWNER buyer;
-- Only the owner (and the superuser) may connect to the buyer's data ...
REVOKE ALL ON DATABASE buyer FROM PUBLIC;
-- ... and the buyer role may not connect to Airflow's metadata DB.
REVOKE ALL ON DATABASE airflow FROM PUBLIC;
SQL
