"""Native PostgreSQL: Debian's server binaries running a private cluster under `.local/postgres`.

The cluster trusts its own Unix socket, kept in a directory only the cluster's owner can enter,
and asks for passwords on 127.0.0.1. Server commands refuse to run as root, so as root they run
as the `postgres` user the Debian package creates. That user must be able to reach the data
dir: when the checkout lies below a folder it cannot enter (a `mktemp -d` folder, a home
directory with mode 700), the cluster lives in a folder of its own under /var/lib/postgresql
instead, and `.local/postgres` is a link to it.
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shutil
import stat
import subprocess
from collections.abc import Mapping
from pathlib import Path

from psycopg.conninfo import make_conninfo

from infra.apt import apt_install
from infra.errors import InfraError
from infra.process import port_open
from infra.settings import InfraSettings

# Server settings for bulk micro-batches (one transaction of ~200k rows every few seconds):
# buffers that hold the working set, WAL room so checkpoints are not forced mid-drain, and lz4
# for full-page images in WAL (pglz, what "on" means, cost a fifth of each batch's insert).
# docker-compose.yml passes the same (tests/infra/test_compose.py checks).
SERVER_TUNING: dict[str, str] = {
    "shared_buffers": "1GB",
    "wal_compression": "lz4",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "30min",
    "wal_buffers": "64MB",
}

APT_HINT = (
    "sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql"
)


def server_bin_dir() -> Path | None:
    """Newest `/usr/lib/postgresql/<major>/bin` that holds initdb, or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    return Path(found[-1]).parent if found else None


OUTSIDE_HOME = Path("/var/lib/postgresql/clickstream")


def reachable_by(path: Path, uid: int, gid: int) -> bool:
    """True when user `uid` (group `gid`) may enter `path` and every folder above it."""
    for folder in (path, *path.parents):
        try:
            st = folder.stat()
        except FileNotFoundError:
            continue  # created later, by root, with the default mode (enterable)
        if st.st_uid == uid:
            ok = st.st_mode & stat.S_IXUSR
        elif st.st_gid == gid:
            ok = st.st_mode & stat.S_IXGRP
        else:
            ok = st.st_mode & stat.S_IXOTH
        if not ok:
            return False
    return True


def cluster_home(local: Path, as_root: bool) -> Path:
    """Where the cluster lives: `local/postgres`, or (as root, when the `postgres` user cannot
    reach it) a folder under /var/lib/postgresql named after the checkout."""
    home = local / "postgres"
    if home.is_symlink():
        return home.resolve()
    if not as_root:
        return home
    try:
        owner = pwd.getpwnam("postgres")
    except KeyError:
        return home  # not installed yet; asked again once it is
    if reachable_by(home, owner.pw_uid, owner.pw_gid):
        return home
    digest = hashlib.sha256(str(local.resolve()).encode()).hexdigest()[:16]
    return OUTSIDE_HOME / digest


class PostgresNative:
    """Paths and steps for the cluster under `.local/postgres`."""

    def __init__(self, settings: InfraSettings) -> None:
        self.s = settings
        self.as_root = os.geteuid() == 0
        self.link = settings.local / "postgres"

    @property
    def home(self) -> Path:
        """The cluster's folder (see cluster_home), decided anew once the package is there."""
        return cluster_home(self.s.local, self.as_root)

    @property
    def data(self) -> Path:
        """The data directory initdb creates."""
        return self.home / "data"

    @property
    def sockets(self) -> Path:
        """The Unix socket folder, which only the cluster's owner can enter."""
        return self.home / "run"

    @property
    def log(self) -> Path:
        """The server's log file."""
        return self.home / "log" / "postgres.log"

    # --- installation -------------------------------------------------------------------
    def install(self) -> bool:
        """Install Debian's postgresql when missing (root only); True if installed now."""
        if server_bin_dir() is not None:
            return False
        if not self.as_root:
            raise InfraError(f"PostgreSQL server is not installed; install it with: {APT_HINT}")
        apt_install("postgresql")
        # The package may start its own cluster on 5432; ours is the one we use.
        for conf in glob.glob("/etc/postgresql/*/main"):
            version = Path(conf).parent.name
            subprocess.run(["pg_ctlcluster", version, "main", "stop"], capture_output=True)
        return True

    def _bin(self, name: str) -> str:
        bin_dir = server_bin_dir()
        if bin_dir is None:
            raise InfraError(f"PostgreSQL server is not installed; install it with: {APT_HINT}")
        return str(bin_dir / name)

    def _as_owner(self, cmd: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *cmd] if self.as_root else cmd

    def _run(
        self,
        cmd: list[str],
        what: str,
        stdin: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> str:
        # From "/": the postgres user may not be allowed into the caller's working directory.
        result = subprocess.run(
            cmd,
            input=stdin,
            capture_output=True,
            text=True,
            cwd="/",
            env={**os.environ, **env} if env else None,
        )
        if result.returncode != 0:
            raise InfraError(
                f"PostgreSQL: {what} failed:\n{(result.stdout + result.stderr)[-3000:]}"
            )
        return result.stdout

    # --- cluster ----------------------------------------------------------------------------
    def init_cluster(self) -> bool:
        """Create the data dir with initdb once; True if created now."""
        home = self.home
        if (self.data / "PG_VERSION").is_file():
            return False
        for path in (self.data, self.sockets, self.log.parent):
            path.mkdir(parents=True, exist_ok=True)
        if home != self.link and not self.link.is_symlink():
            self.link.parent.mkdir(parents=True, exist_ok=True)
            self.link.symlink_to(home, target_is_directory=True)
        if self.as_root:
            shutil.chown(self.home, "postgres", "postgres")
            for path in (self.data, self.sockets, self.log.parent):
                shutil.chown(path, "postgres", "postgres")
        self.data.chmod(0o700)
        self.sockets.chmod(0o700)
        cmd = [
            self._bin("initdb"), "-D", str(self.data), "-U", "postgres", "-E", "UTF8",
            "--no-locale", "--auth-local=trust", "--auth-host=scram-sha-256",
        ]  # fmt: skip
        self._run(self._as_owner(cmd), "initdb")
        return True

    def running(self) -> bool:
        """True when the cluster's postmaster answers `pg_ctl status`."""
        if not (self.data / "PG_VERSION").is_file():
            return False
        cmd = self._as_owner([self._bin("pg_ctl"), "-D", str(self.data), "status"])
        return subprocess.run(cmd, capture_output=True, cwd="/").returncode == 0

    def start(self) -> bool:
        """Start the cluster on 127.0.0.1 at the configured port; True if started now."""
        if self.running():
            return False
        if port_open("127.0.0.1", self.s.pg_port):
            raise InfraError(
                f"port {self.s.pg_port} is taken by a PostgreSQL this project did not start "
                "(Debian's own cluster? stop it with `pg_ctlcluster <version> main stop`), "
                "or set POSTGRES_PORT to a free port in .env"
            )
        tuning = " ".join(f"-c {k}={v}" for k, v in SERVER_TUNING.items())
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.s.pg_port} "
            f"-c unix_socket_directories={self.sockets} -c max_connections=100 {tuning}"
        )
        cmd = [
            self._bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options,
            "-w", "-t", "60", "start",
        ]  # fmt: skip
        self._run(self._as_owner(cmd), f"start (see {self.log})")
        return True

    def stop(self) -> bool:
        """Fast shutdown of the cluster; True if it was running."""
        if not self.running():
            return False
        cmd = [self._bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]
        self._run(self._as_owner(cmd), "stop")
        return True

    def purge(self) -> None:
        """Delete the cluster's data directory and logs (and the link to them, if any)."""
        shutil.rmtree(self.home, ignore_errors=True)
        if self.link.is_symlink():
            self.link.unlink()

    # --- roles, database, schema ------------------------------------------------------
    def _psql(
        self,
        sql: str | Path,
        variables: Mapping[str, str] | None = None,
        db: str = "postgres",
        secrets: Mapping[str, str] | None = None,
    ) -> str:
        """Run `sql` (text, or a file) as the cluster's superuser over its owner-only socket.

        Names travel as psql variables (`-v name=value`, one argv item each); passwords in the
        environment of psql alone (`secrets`, read with \\getenv), never in an argv that `ps`
        shows. The SQL splices them only as :'name' or :"name" (or through format('%I', '%L')),
        which psql and PostgreSQL quote: no value can change the statement.
        """
        cmd = [
            self._bin("psql"), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1",
            "-h", str(self.sockets), "-p", str(self.s.pg_port), "-U", "postgres", "-d", db,
        ]  # fmt: skip
        for name, value in (variables or {}).items():
            cmd += ["-v", f"{name}={value}"]
        if isinstance(sql, Path):
            return self._run([*cmd, "-f", str(sql)], f"psql -f {sql.name} on {db}", env=secrets)
        return self._run(cmd, f"psql on {db}", stdin=sql, env=secrets)

    def superuser_conninfo(self, db: str | None = None, **extra: str) -> str:
        """libpq string for the cluster's superuser over its owner-only socket (tests, benches)."""
        return make_conninfo(
            host=str(self.sockets), port=self.s.pg_port, user="postgres",
            dbname=db or self.s.pg_db, **extra,
        )  # fmt: skip

    def role_variables(self, schema: str | None = None) -> dict[str, str]:
        """The psql variables db/roles.sql and db/init.sql read, from settings."""
        s = self.s
        return {
            "schema": schema or s.pg_schema,
            "owner": s.pg_owner,
            "runtime_user": s.pg_user,
            "readonly_user": s.pg_reader,
            "readonly_timeout": s.pg_reader_timeout,
        }

    def ensure_database(self) -> list[str]:
        """Create or update the database and the three roles (db/roles.sql); list what is new."""
        s = self.s
        names = {"owner": s.pg_owner, "runtime": s.pg_user, "reader": s.pg_reader}
        found = self._psql(
            "SELECT rolname FROM pg_roles WHERE rolname IN (:'owner', :'runtime', :'reader')",
            names,
        ).splitlines()
        done = [f"role {name}" for name in names.values() if name not in found]
        exists = "SELECT 1 FROM pg_database WHERE datname = :'database'"
        if not self._psql(exists, {"database": s.pg_db}).strip():
            # CREATE DATABASE cannot run inside a function or a transaction: format('%I')
            # quotes the name and psql's \gexec runs the statement it makes.
            self._psql(
                "SELECT format('CREATE DATABASE %I', :'database') \\gexec\n", {"database": s.pg_db}
            )
            done.append(f"database {s.pg_db}")
        secrets = {
            "CLICKSTREAM_RUNTIME_PASSWORD": s.pg_password,
            "CLICKSTREAM_READONLY_PASSWORD": s.pg_reader_password,
        }
        self._psql(s.root / "db" / "roles.sql", self.role_variables(), s.pg_db, secrets)
        return done

    def apply_schema(self, schema: str | None = None) -> None:
        """Apply db/init.sql (idempotent) into `schema` or the configured one, as the setup role."""
        self._psql(self.s.root / "db" / "init.sql", self.role_variables(schema), db=self.s.pg_db)

    def drop_schema(self, schema: str) -> None:
        """Drop `schema` and everything in it (tests' and benchmarks' throwaway schemas)."""
        self._psql(
            "SELECT format('DROP SCHEMA IF EXISTS %I CASCADE', :'schema') \\gexec\n",
            {"schema": schema},
            db=self.s.pg_db,
        )
