-- The project's three roles and its database (README.md, "Roles"). Run by a superuser
-- (native: the cluster's `postgres` over its owner-only socket; Docker: the image's superuser,
-- from docker-init.sh), connected to the target database, before init.sql. Idempotent.
-- psql variables (all required): schema, owner, runtime_user, readonly_user,
-- readonly_timeout. The two passwords come from psql's environment (CLICKSTREAM_RUNTIME_PASSWORD,
-- CLICKSTREAM_READONLY_PASSWORD), not its command line, which `ps` shows. Names and passwords are
-- only ever spliced in by format('%I', '%L'): no quote or backslash in them changes the SQL.
--
--   owner          the setup role: owns the database, the schema and its tables; cannot log in
--                  (init.sql runs as it through SET ROLE), creates no roles, is no superuser.
--   runtime_user   the processor: reads and writes the schema's tables, temporary tables for
--                  staging; owns nothing, creates no roles, schemas or tables.
--   readonly_user  Grafana, the browser and terminal views: SELECT on the schema, nothing
--                  else: no temporary tables, no large objects, a statement timeout.

\set ON_ERROR_STOP on
\getenv runtime_password CLICKSTREAM_RUNTIME_PASSWORD
\getenv readonly_password CLICKSTREAM_READONLY_PASSWORD
\if :{?runtime_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'roles.sql: CLICKSTREAM_RUNTIME_PASSWORD is not set'; END $$;
\endif
\if :{?readonly_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'roles.sql: CLICKSTREAM_READONLY_PASSWORD is not set'; END $$;
\endif

SELECT format('CREATE ROLE %I NOLOGIN', :'owner')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I LOGIN', r)
FROM unnest(ARRAY[:'runtime_user', :'readonly_user']) AS r
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) \gexec

-- No attribute beyond LOGIN, whatever an older setup gave (it gave the processor CREATEROLE,
-- which on PostgreSQL 15 lets a role grant itself pg_execute_server_program).
SELECT format('ALTER ROLE %I NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS',
              :'owner') \gexec
SELECT format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS '
              'PASSWORD %L', :'runtime_user', :'runtime_password') \gexec
SELECT format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS '
              'PASSWORD %L', :'readonly_user', :'readonly_password') \gexec
-- No membership in any other role (pg_execute_server_program, pg_write_server_files, ...).
SELECT format('REVOKE %I FROM %I CASCADE', g.rolname, m.rolname)
FROM pg_auth_members AS a
JOIN pg_roles AS g ON g.oid = a.roleid
JOIN pg_roles AS m ON m.oid = a.member
WHERE m.rolname IN (:'owner', :'runtime_user', :'readonly_user') \gexec

-- An older setup made the processor's role own the database, the schema and its tables: hand
-- them to the setup role (only then: a running processor's temporary tables stay its own).
SELECT format('REASSIGN OWNED BY %I TO %I', :'runtime_user', :'owner')
FROM pg_roles AS r
WHERE r.rolname = :'runtime_user'
  AND (EXISTS (SELECT FROM pg_namespace WHERE nspowner = r.oid AND nspname NOT LIKE 'pg_temp%'
                                              AND nspname NOT LIKE 'pg_toast_temp%')
       OR EXISTS (SELECT FROM pg_database WHERE datname = current_database() AND datdba = r.oid))
\gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', current_database(), :'owner') \gexec

-- Databases: by default every role may connect to each and make temporary tables there. In
-- this cluster (the project's own) only the two login roles connect, to this database only.
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', datname)
FROM pg_database WHERE datallowconn \gexec
SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', current_database(), :'runtime_user')
\gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), :'readonly_user') \gexec
-- The public schema is nobody's here (PostgreSQL 15 already keeps CREATE from PUBLIC).
REVOKE ALL ON SCHEMA public FROM PUBLIC;
-- Large objects: any role may create one by default, and they are writable storage outside
-- any table's privileges. Nothing in the project uses them.
REVOKE EXECUTE ON FUNCTION lo_creat(integer), lo_create(oid), lo_from_bytea(oid, bytea),
    lo_import(text), lo_import(text, oid) FROM PUBLIC;

-- The reader: read-only by privileges (above and in init.sql); read-only transactions and a
-- statement timeout by default as well, so that a slow dashboard query ends on its own.
SELECT format('ALTER ROLE %I SET default_transaction_read_only = on', :'readonly_user') \gexec
SELECT format('ALTER ROLE %I SET statement_timeout = %L', :'readonly_user', :'readonly_timeout')
\gexec
SELECT format('ALTER ROLE %I SET idle_in_transaction_session_timeout = %L', :'readonly_user',
              '60s') \gexec
-- Dashboards name tables unqualified; both login roles find them in the configured schema.
SELECT format('ALTER ROLE %I SET search_path = %I, public', r, :'schema')
FROM unnest(ARRAY[:'runtime_user', :'readonly_user']) AS r \gexec
