"""Entry point: `python -m processor.streaming_processor` reads the Kafka topic with one Spark
Structured Streaming query and commits every micro-batch to PostgreSQL exactly once.

Settings come from the environment over .env over .env.example (docs/processor.md lists them);
flags override a few for tests and benchmarks. SIGTERM or Ctrl-C stops after the current batch.
"""

from __future__ import annotations

import argparse
import functools
import logging
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType

from py4j.protocol import Py4JError
from pyspark.errors import StreamingQueryException
from pyspark.sql import SparkSession
from pyspark.sql.streaming.query import StreamingQuery

from infra.env import ConfigError, load_env
from infra.kafka import topic_id
from infra.owner_only import private_dir, restrict_umask
from infra.version import add_version
from processor.batch import MicroBatchHandler
from processor.checkpoint import batch_end_offsets, retire_checkpoint
from processor.chunks import SinkRules
from processor.parse import ParseRules
from processor.settings import ProcessorError, ProcessorSettings
from processor.sink import PostgresSink

log = logging.getLogger("processor")
JVM_OPTIONS = "-Duser.timezone=UTC -XX:-DontCompileHugeMethods -XX:+UseParallelGC"


def spark_session(settings: ProcessorSettings) -> SparkSession:
    """The processor's SparkSession: connector jars, UTC, few shuffle partitions."""
    from processor.spark_session import get_spark_session

    return get_spark_session(
        "clickstream-processor",
        master=settings.spark_master,
        ui=settings.spark_ui,
        conf={
            "spark.driver.memory": settings.spark_driver_memory,
            "spark.sql.shuffle.partitions": "4",
            # Batches are collected once through Arrow; keep the Python side light.
            "spark.sql.execution.arrow.maxRecordsPerBatch": "50000",
            # Validation compiles to one large generated method; HotSpot skips methods over 8 KB
            # unless told otherwise, which costs about a third of parsing time. The throughput
            # collector (ParallelGC) drains 8-14% faster than the default G1 on 2 cores: G1's
            # write barriers and concurrent threads cost CPU, and pauses do not matter here.
            "spark.driver.extraJavaOptions": JVM_OPTIONS,
            "spark.executor.extraJavaOptions": JVM_OPTIONS,
        },
    )


def start_query(
    spark: SparkSession,
    settings: ProcessorSettings,
    handler: MicroBatchHandler,
    available_now: bool = False,
) -> StreamingQuery:
    """Start the one streaming query: Kafka source -> foreachBatch(handler)."""
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.kafka_bootstrap)
        .option("subscribe", settings.kafka_topic)
        .option("startingOffsets", settings.starting_offsets)
        # Spark's own check would only log, or fail without saying what is lost: the sink
        # finds every gap itself (processor/lateness.py) and acts on PROCESSOR_ON_DATA_LOSS.
        .option("failOnDataLoss", "false")
        # More read tasks than cores: the first ones reach PostgreSQL while the rest still run.
        .option("minPartitions", str(settings.read_partitions))
    )
    if settings.max_offsets_per_trigger > 0:
        reader = reader.option("maxOffsetsPerTrigger", str(settings.max_offsets_per_trigger))
    if settings.min_offsets_per_trigger > 0 and not available_now:
        # Short triggers for freshness, without a batch per trigger when little has arrived:
        # each batch has a fixed cost (a Spark job, checkpoint writes, a transaction) that at
        # low rates would otherwise dominate the CPU (docs/processor.md, "Freshness").
        reader = reader.option("minOffsetsPerTrigger", str(settings.min_offsets_per_trigger))
        delay_ms = max(1, round(settings.max_trigger_delay_seconds * 1000))
        reader = reader.option("maxTriggerDelay", f"{delay_ms}ms")
    writer = (
        reader.load()
        .writeStream.queryName("clickstream_processor")
        .foreachBatch(handler)
        .option("checkpointLocation", str(settings.checkpoint_dir))
    )
    if available_now:
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=f"{settings.trigger_seconds} seconds")
    query = writer.start()
    handler.set_query_id(str(query.id))
    return query


class TopicIds:
    """Kafka's id of the topic, asked anew for every batch (a recreated topic has a new one)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from confluent_kafka.admin import AdminClient

        self._admin = AdminClient({"bootstrap.servers": bootstrap})
        self._topic = topic

    def __call__(self) -> str | None:
        """The topic's id now, or None if Kafka does not say within a few seconds."""
        from confluent_kafka import KafkaException

        try:
            return topic_id(self._admin, self._topic)
        except (KafkaException, TimeoutError) as exc:
            log.warning(
                "topic id of %s not known now (%s); not checked this batch", self._topic, exc
            )
            return None


class KafkaRestarts:
    """Whether a failed query may start again: only for errors of the Kafka client, and only
    for five minutes in a row without a committed batch (the checkpoint and the batch ledger
    make a restart exact)."""

    def __init__(self, retry_seconds: float = 300.0, pause_seconds: float = 5.0) -> None:
        self._retry_seconds, self._pause_seconds = retry_seconds, pause_seconds
        self._since: float | None = None
        self._batches = -1

    def allow(self, exc: Exception, handler: MicroBatchHandler) -> bool:
        """True (after a pause) when the failure is Kafka's and the retry time is not used up."""
        text = str(exc).lower()
        # Our own errors (the sink's: data loss, PostgreSQL gone) are never Kafka's to retry.
        if "kafka" not in text or "processor.sink." in text:
            return False
        if handler.totals.batches != self._batches:  # progress since the last failure
            self._since, self._batches = time.monotonic(), handler.totals.batches
        assert self._since is not None
        if time.monotonic() - self._since > self._retry_seconds:
            return False
        log.warning(
            "the query failed on Kafka (%s); starting it again in %.0fs", exc, self._pause_seconds
        )
        time.sleep(self._pause_seconds)
        return True


class StopRequest:
    """Set by SIGTERM/SIGINT; the main loop then stops the query between batches."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        """Signal handler: remember the request (a second Ctrl-C exits at once)."""
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        log.info("stop requested (signal %d): finishing the current batch", signum)


WATCH_SECONDS = 10.0


def wait(
    query: StreamingQuery,
    handler: MicroBatchHandler,
    stop: StopRequest,
    watch: Callable[[], None] = lambda: None,
) -> None:
    """Block until the query ends or a stop is requested, then stop it between batches.

    `watch` runs every WATCH_SECONDS (the topic check); what it raises stops the query.
    """
    watched = time.monotonic()
    try:
        while query.isActive:
            if time.monotonic() - watched > WATCH_SECONDS:
                watched = time.monotonic()
                try:
                    watch()
                except ProcessorError:
                    query.stop()
                    raise
            if stop.requested:
                deadline = time.monotonic() + 600
                while handler.busy.is_set() and time.monotonic() < deadline:
                    time.sleep(0.1)
                query.stop()
                break
            # pyspark annotates whole seconds but takes a float (it waits int(timeout * 1000) ms).
            query.awaitTermination(0.5)  # type: ignore[arg-type]
        failure = query.exception()
    except StreamingQueryException as exc:
        failure = exc
    except (Py4JError, ConnectionError) as exc:
        if stop.requested:  # the signal reached Spark's JVM too (sent to the process group)
            log.warning("Spark stopped with the signal; an unfinished batch is replayed on start")
            return
        raise ProcessorError(f"Spark's JVM went away: {exc}") from exc
    if failure is not None:
        raise ProcessorError(f"the streaming query failed: {failure}")


def run(settings: ProcessorSettings, available_now: bool = False) -> MicroBatchHandler:
    """Run the processor until the topic is drained (available_now) or a stop is requested."""
    sink = PostgresSink(
        settings.pg_conninfo(),
        SinkRules(
            max_lateness_seconds=settings.max_lateness_seconds,
            on_data_loss=settings.on_data_loss,
            payload_prefix_bytes=settings.reject_payload_bytes,
            retention_days=settings.raw_retention_days,
        ),
        settings.db_retry_seconds,
    )
    sink.keep_partitions()  # today's partitions, and retention, before the first batch
    rules = ParseRules(
        max_future_seconds=settings.max_future_seconds,
        max_message_bytes=settings.max_message_bytes,
        payload_prefix_bytes=settings.reject_payload_bytes,
    )
    topic_ids = TopicIds(settings.kafka_bootstrap, settings.kafka_topic)
    handler = MicroBatchHandler(
        sink,
        settings.kafka_topic,
        rules,
        topic_ids,
        functools.partial(batch_end_offsets, settings.checkpoint_dir, topic=settings.kafka_topic),
    )
    stop = StopRequest()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    private_dir(settings.checkpoint_dir)
    spark = spark_session(settings)

    def watch() -> None:
        # A recreated topic whose new offsets are still below the checkpoint's gives Spark no
        # batch to run, so the per-batch check would never see it: look at start and while
        # the query runs too.
        handler.recreated = sink.check_topic(settings.kafka_topic, topic_ids())
        if handler.recreated is not None:
            raise handler.recreated

    restarts = KafkaRestarts()
    try:
        while True:
            try:
                watch()
                query = start_query(spark, settings, handler, available_now)
                log.info("query %s started; checkpoint %s", query.id, settings.checkpoint_dir)
                wait(query, handler, stop, watch)
                break
            except ProcessorError as exc:
                recreated, handler.recreated = handler.recreated, None
                if recreated is None and not stop.requested and restarts.allow(exc, handler):
                    continue  # Kafka went away under the query: start it again from its checkpoint
                if recreated is None or stop.requested:
                    raise
            # PROCESSOR_ON_DATA_LOSS=continue and a recreated topic: record it, put the old
            # checkpoint aside (its offsets belong to the old topic) and read the new topic
            # from its start under a new query id.
            sink.record_recreation(recreated, handler.query_name_if_started)
            kept = retire_checkpoint(settings.checkpoint_dir, recreated.old_id)
            log.error(
                "DATA LOSS: %s; recorded in data_gaps. The old checkpoint is kept as %s; "
                "reading the new topic from its start",
                recreated,
                kept,
            )
            settings = settings.with_overrides(starting_offsets="earliest")
    finally:
        sink.close()
    return handler


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line flags; each overrides the setting of the same meaning."""
    p = argparse.ArgumentParser(
        prog="python -m processor.streaming_processor",
        description="Kafka -> Spark Structured Streaming -> PostgreSQL, exactly once per batch.",
    )
    add_version(p)
    p.add_argument(
        "--available-now",
        "--once",
        action="store_true",
        dest="available_now",
        help="process what the topic holds now, then exit (trigger availableNow)",
    )
    p.add_argument("--topic", help="Kafka topic (KAFKA_TOPIC)")
    p.add_argument("--schema", help="PostgreSQL schema (POSTGRES_SCHEMA)")
    p.add_argument("--checkpoint-dir", help="checkpoint folder (PROCESSOR_CHECKPOINT_DIR)")
    p.add_argument(
        "--trigger-seconds", help="micro-batch interval: 5, 5s, 500ms (PROCESSOR_TRIGGER_SECONDS)"
    )
    p.add_argument("--max-offsets-per-trigger", type=int, help="PROCESSOR_MAX_OFFSETS_PER_TRIGGER")
    p.add_argument("--starting-offsets", help="KAFKA_STARTING_OFFSETS: earliest or latest")
    p.add_argument(
        "--show-settings",
        action="store_true",
        help="print each setting with its variable (secrets masked) and exit",
    )
    return p.parse_args(argv)


def build_settings(args: argparse.Namespace) -> ProcessorSettings:
    """Settings from the layered environment, with the command line's overrides."""
    env = load_env()
    overrides = {
        "KAFKA_TOPIC": args.topic,
        "POSTGRES_SCHEMA": args.schema,
        "PROCESSOR_CHECKPOINT_DIR": args.checkpoint_dir,
        "PROCESSOR_TRIGGER_SECONDS": args.trigger_seconds,
        "PROCESSOR_MAX_OFFSETS_PER_TRIGGER": args.max_offsets_per_trigger,
        "KAFKA_STARTING_OFFSETS": args.starting_offsets,
    }
    return ProcessorSettings.from_env(env, flags=overrides)


def main(argv: list[str] | None = None) -> int:
    """Run the processor; print a summary; turn errors into one line and an exit code."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("py4j").setLevel(logging.WARNING)
    args = parse_args(argv)
    try:
        settings = build_settings(args)
        if args.show_settings:
            print(settings.describe())
            return 0
        log.info("settings:\n%s", settings.describe())
        started = time.monotonic()
        handler = run(settings, available_now=args.available_now)
    except (ConfigError, ProcessorError) as exc:
        print(f"processor: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    t, c = handler.totals, handler.totals.counts
    seconds = time.monotonic() - started
    print(
        f"processor: {t.batches} batches committed ({t.skipped} skipped as already done), "
        f"{c.messages} messages, {c.new_events} new events, {c.rejected} rejected, "
        f"{c.duplicates} duplicates, {c.late} late in {seconds:.1f}s "
        f"({c.messages / seconds if seconds else 0:.0f} messages/s)"
    )
    return 0


if __name__ == "__main__":
    restrict_umask()  # the checkpoint and Spark's files (the JVM inherits it) are the user's alone
    sys.exit(main())
