"""Native Apache Kafka: a single KRaft node (broker + controller) run from Maven Central's jars."""

from __future__ import annotations

import base64
import os
import string
import subprocess
import uuid
from typing import Any

from infra.errors import InfraError
from infra.maven import fetch_jars
from infra.owner_only import UMASK, private_dir, write_private
from infra.process import port_open, read_pid, start_detached, stop_pid, wait_until
from infra.settings import InfraSettings


class KafkaNative:
    """Paths and steps for the broker that lives under `.local/kafka`."""

    def __init__(self, settings: InfraSettings) -> None:
        self.s = settings
        self.home = settings.local / "kafka"
        self.libs = self.home / "libs"
        self.data = self.home / "data"
        self.config = self.home / "server.properties"
        self.pidfile = settings.local / "run" / "kafka.pid"
        self.log = settings.local / "logs" / "kafka.log"
        # What an old one-number pidfile's process must run to count as our broker.
        self.marker = "kafka.Kafka"

    def fetch(self) -> bool:
        """Download the broker's runtime classpath once; True if it was fetched now."""
        pom = self.s.root / "config" / "kafka" / "pom.xml"
        return fetch_jars(pom, self.libs, transitive=True, label="Kafka")

    def _java(self, main: str, *args: str, heap: str = "256m") -> list[str]:
        return [
            "java", f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.s.root / 'config' / 'kafka' / 'log4j2.xml'}",
            f"-Dkafka.logs.file={self.log}",
            "-cp", f"{self.libs}/*", main, *args,
        ]  # fmt: skip

    def write_config(self) -> None:
        """Render server.properties from the template and current settings."""
        template = (self.s.root / "config" / "kafka" / "server.properties.template").read_text()
        text = string.Template(template).substitute(
            KAFKA_PORT=self.s.kafka_port,
            KAFKA_CONTROLLER_PORT=self.s.kafka_controller_port,
            KAFKA_DATA_DIR=self.data,
            KAFKA_PARTITIONS=self.s.kafka_partitions,
        )
        private_dir(self.home)  # the jars, the config and the topics' data below it
        if self.data.is_dir():
            private_dir(self.data)
        write_private(self.config, text)

    def format_storage(self) -> bool:
        """Format the KRaft log dir once with a fresh cluster id; True if formatted now."""
        if (self.data / "meta.properties").is_file():
            return False
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        cmd = self._java(
            "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.config),
            "--standalone",
        )  # fmt: skip
        private_dir(self.log.parent)
        result = subprocess.run(cmd, capture_output=True, text=True, umask=UMASK)
        if result.returncode != 0:
            raise InfraError(f"Kafka storage format failed:\n{result.stdout}{result.stderr}")
        return True

    def running(self) -> bool:
        """True when our broker process is alive."""
        return read_pid(self.pidfile, self.marker) is not None

    def start(self, timeout: float = 90.0) -> bool:
        """Start the broker unless running and wait for a metadata answer; True if started now."""
        if self.running():
            self.wait_ready(timeout)
            return False
        if port_open("127.0.0.1", self.s.kafka_port):
            raise InfraError(
                f"port {self.s.kafka_port} is taken by a process this project did not start; "
                "stop it or set KAFKA_BOOTSTRAP_SERVERS to another port in .env"
            )
        self.write_config()
        self.format_storage()
        env = dict(os.environ)
        start_detached(
            self._java("kafka.Kafka", str(self.config), heap=self.s.kafka_heap),
            self.log.with_suffix(".out"),
            self.pidfile,
            env=env,
        )
        self.wait_ready(timeout)
        return True

    def wait_ready(self, timeout: float) -> None:
        """Block until a metadata request answers; raise with the log's tail if it never does."""
        from confluent_kafka.admin import AdminClient

        def answers() -> bool:
            if not self.running():
                raise InfraError(f"Kafka exited during start-up; see {self.log}\n{self.tail()}")
            if not port_open("127.0.0.1", self.s.kafka_port):
                return False
            admin = AdminClient({"bootstrap.servers": self.s.kafka_bootstrap})
            try:
                return bool(admin.list_topics(timeout=3).brokers)
            except Exception:
                return False

        if not wait_until(answers, timeout, interval=1.0):
            raise InfraError(f"Kafka did not answer within {timeout:.0f}s; see {self.log}")

    def ensure_topic(self, name: str, partitions: int) -> bool:
        """Create `name` with `partitions` unless it exists; True if created now."""
        return create_topic(self.s.kafka_bootstrap, name, partitions)

    def stop(self) -> bool:
        """Stop the broker by pid (graceful first); True if it was running."""
        return stop_pid(self.pidfile, timeout=45, marker=self.marker)

    def tail(self, lines: int = 20) -> str:
        """Last lines of the broker's log, for error messages."""
        for path in (self.log, self.log.with_suffix(".out")):
            if path.is_file():
                return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def purge(self) -> None:
        """Delete the broker's data (topics and KRaft metadata), keeping the jars."""
        import shutil

        shutil.rmtree(self.data, ignore_errors=True)


def create_topic(bootstrap: str, name: str, partitions: int, timeout_s: float = 30.0) -> bool:
    """Create topic `name` unless it exists (the broker's default replication); True if created
    now. Raise InfraError saying why it could not be (the producer and `infra up` share this)."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        if name in admin.list_topics(timeout=timeout_s).topics:
            return False
        futures = admin.create_topics([NewTopic(name, partitions)], operation_timeout=timeout_s)
        futures[name].result(timeout=timeout_s)
    except KafkaException as exc:
        error = exc.args[0] if exc.args else None
        if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return False  # made meanwhile by someone else
        reason = error.str() if isinstance(error, KafkaError) else str(exc)
        raise InfraError(f"could not create topic {name} on {bootstrap}: {reason}") from None
    except TimeoutError:
        raise InfraError(
            f"could not create topic {name} on {bootstrap}: no answer within {timeout_s:g} s"
        ) from None
    return True


def topic_id(admin: Any, topic: str, timeout_s: float = 10.0) -> str:
    """Kafka's id of `topic` (a topic deleted and created again under its name has a new one),
    asked through `admin` (a confluent_kafka AdminClient). Raises KafkaException or
    TimeoutError when Kafka does not say."""
    from confluent_kafka import TopicCollection

    futures = admin.describe_topics(TopicCollection([topic]), request_timeout=timeout_s / 2)
    return str(futures[topic].result(timeout=timeout_s).topic_id)
