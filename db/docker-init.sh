#!/usr/bin/env bash
# Docker mode only: the postgres image runs this once, on its first start with an empty data
# volume, as the image's superuser (POSTGRES_USER, here POSTGRES_ADMIN_USER of .env) inside
# POSTGRES_DB. It makes the project's three roles (db/roles.sql, mounted at /sql/roles.sql) and
# then applies db/init.sql (/sql/init.sql) as the setup role, as native mode does
# (infra/postgres.py). Names go as psql variables; the two passwords stay in the environment,
# which roles.sql reads with \getenv.
set -euo pipefail

: "${CLICKSTREAM_RUNTIME_PASSWORD:?CLICKSTREAM_RUNTIME_PASSWORD (POSTGRES_PASSWORD) must be set}"
: "${CLICKSTREAM_READONLY_PASSWORD:?CLICKSTREAM_READONLY_PASSWORD (POSTGRES_READONLY_PASSWORD) must be set}"
export CLICKSTREAM_RUNTIME_PASSWORD CLICKSTREAM_READONLY_PASSWORD

vars=(
  -v ON_ERROR_STOP=1
  -v schema="${CLICKSTREAM_SCHEMA:-analytics}"
  -v owner="${CLICKSTREAM_OWNER:-clickstream_owner}"
  -v runtime_user="${CLICKSTREAM_RUNTIME_USER:-clickstream}"
  -v readonly_user="${CLICKSTREAM_READONLY_USER:-grafana_reader}"
  -v readonly_timeout="${CLICKSTREAM_READONLY_STATEMENT_TIMEOUT:-30s}"
)
psql --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" "${vars[@]}" -f /sql/roles.sql
psql --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" "${vars[@]}" -f /sql/init.sql
echo "clickstream: made the roles and applied init.sql (schema ${CLICKSTREAM_SCHEMA:-analytics})"
