"""The seed-style processor: the baseline that bench/processor.py measures ours against.

The project's first design, rebuilt for comparison only: four independent streaming queries
over the same Kafka topic, each parsing the JSON with from_json. One appends the raw events
through JDBC; three keep windowed aggregations in Spark's state (sessions by session_id,
products and totals by event-time hour, a one-hour watermark, update mode) and append each
batch's updated rows through JDBC. No validation beyond the schema, no dedupe, no lateness
rule, no exactly-once: it exists to be measured, never to be used.

It writes four tables of the schema it is given (seed_raw_events, seed_sessions, seed_products,
seed_hourly), which bench/processor.py makes first. At the end it prints one JSON line:
{"seconds": ..., "queries": 4} (from the first query's start to the last one's end).

Usage: python bench/seed_processor.py --topic T --schema S --checkpoint DIR
       [--available-now | --trigger SECONDS]
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.env import load_env  # noqa: E402
from processor.settings import ProcessorSettings  # noqa: E402

# The tables, made by bench/processor.py before this runs (the processor's role may not create
# tables): column names as the queries write them.
TABLES = {
    "seed_raw_events": (
        "event_id text, event_type text, event_time timestamptz, user_id text, "
        "session_id text, product_id text, page_url text, user_agent text, ip_address text, "
        "device_type text, price double precision, quantity integer, order_id text, "
        "category text, referrer text, country text"
    ),
    "seed_sessions": (
        "session_id text, session_start timestamptz, session_end timestamptz, events bigint, "
        "page_views bigint, add_to_carts bigint, purchases bigint, revenue double precision"
    ),
    "seed_products": (
        "window_start timestamptz, window_end timestamptz, product_id text, views bigint, "
        "add_to_carts bigint, purchases bigint, revenue double precision"
    ),
    "seed_hourly": (
        "window_start timestamptz, window_end timestamptz, events bigint, page_views bigint, "
        "add_to_carts bigint, purchases bigint, revenue double precision, unique_users bigint, "
        "unique_sessions bigint"
    ),
}


def _queries(spark: Any, settings: ProcessorSettings, args: argparse.Namespace) -> list[Any]:
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, IntegerType, StringType, StructField, StructType

    fields = [
        "event_id", "event_type", "timestamp", "user_id", "session_id", "product_id",
        "page_url", "user_agent", "ip_address", "device_type", "order_id", "category",
        "referrer", "country",
    ]  # fmt: skip
    schema = StructType(
        [StructField(f, StringType()) for f in fields]
        + [StructField("price", DoubleType()), StructField("quantity", IntegerType())]
    )
    pg = settings.pg
    url = f"jdbc:postgresql://{pg.host}:{pg.port}/{pg.dbname}?currentSchema={pg.schema}"
    props = {"user": pg.user, "password": pg.password, "driver": "org.postgresql.Driver"}

    def events() -> Any:
        raw = (
            spark.readStream.format("kafka")
            .option("kafka.bootstrap.servers", settings.kafka_bootstrap)
            .option("subscribe", args.topic)
            .option("startingOffsets", "earliest")
            .option("failOnDataLoss", "false")
            .load()
        )
        parsed = raw.select(F.from_json(F.col("value").cast("string"), schema).alias("e"))
        return (
            parsed.select("e.*")
            # The seed ran Spark 3, where a malformed time cast to null; Spark 4 (ANSI) raises.
            .withColumn("event_time", F.try_to_timestamp(F.col("timestamp")))
            .drop("timestamp")
            .where(F.col("event_id").isNotNull() & F.col("event_time").isNotNull())
        )

    def sink(table: str) -> Any:
        def write(df: Any, _batch_id: int) -> None:
            df.write.jdbc(url, table, mode="append", properties=props)

        return write

    purchase = F.col("event_type") == "purchase"
    line = F.when(purchase, F.col("price") * F.col("quantity"))

    def counts() -> list[Any]:
        return [
            F.count(F.lit(1)).alias("events"),
            F.count(F.when(F.col("event_type") == "page_view", 1)).alias("page_views"),
            F.count(F.when(F.col("event_type") == "add_to_cart", 1)).alias("add_to_carts"),
            F.count(F.when(purchase, 1)).alias("purchases"),
            F.coalesce(F.sum(line), F.lit(0.0)).alias("revenue"),
        ]

    raw_rows = events().select(
        "event_id", "event_type", "event_time", "user_id", "session_id", "product_id",
        "page_url", "user_agent", "ip_address", "device_type", "price", "quantity", "order_id",
        "category", "referrer", "country",
    )  # fmt: skip
    sessions = (
        events()
        .withWatermark("event_time", "1 hour")
        .groupBy("session_id")
        .agg(F.min("event_time").alias("session_start"), F.max("event_time").alias("session_end"),
             *counts())
    )  # fmt: skip
    hour = F.window("event_time", "1 hour")
    products = (
        events()
        .where(F.col("product_id").isNotNull())
        .withWatermark("event_time", "1 hour")
        .groupBy(hour, "product_id")
        .agg(*counts()[1:])
        .select(F.col("window.start").alias("window_start"),
                F.col("window.end").alias("window_end"), "product_id", "page_views",
                "add_to_carts", "purchases", "revenue")
        .withColumnRenamed("page_views", "views")
    )  # fmt: skip
    hourly = (
        events()
        .withWatermark("event_time", "1 hour")
        .groupBy(hour)
        .agg(*counts(), F.approx_count_distinct("user_id").alias("unique_users"),
             F.approx_count_distinct("session_id").alias("unique_sessions"))
        .select(F.col("window.start").alias("window_start"),
                F.col("window.end").alias("window_end"), "events", "page_views",
                "add_to_carts", "purchases", "revenue", "unique_users", "unique_sessions")
    )  # fmt: skip
    started = []
    for name, frame, mode in (
        ("seed_raw_events", raw_rows, "append"),
        ("seed_sessions", sessions, "update"),
        ("seed_products", products, "update"),
        ("seed_hourly", hourly, "update"),
    ):
        writer = (
            frame.writeStream.outputMode(mode)
            .foreachBatch(sink(name))
            .option("checkpointLocation", str(Path(args.checkpoint) / name))
        )
        if args.available_now:
            writer = writer.trigger(availableNow=True)
        else:
            writer = writer.trigger(processingTime=f"{args.trigger} seconds")
        started.append(writer.start())
    return started


def main(argv: list[str] | None = None) -> int:
    """Run the four queries until the topic is drained (--available-now) or SIGTERM."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--topic", required=True)
    p.add_argument("--schema", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--available-now", action="store_true")
    p.add_argument("--trigger", type=float, default=5.0, help="seconds between batches (5)")
    args = p.parse_args(argv)
    env = {**load_env(), "POSTGRES_SCHEMA": args.schema, "KAFKA_TOPIC": args.topic}
    settings = ProcessorSettings.from_env(env)
    from processor.spark_session import get_spark_session

    spark = get_spark_session(
        "clickstream-seed-baseline",
        settings.spark_master,
        {"spark.driver.memory": settings.spark_driver_memory},
    )
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    started = time.monotonic()
    queries = _queries(spark, settings, args)
    while any(q.isActive for q in queries) and not stopping:
        for q in queries:
            if q.exception() is not None:
                raise RuntimeError(f"seed query failed: {q.exception()}")
        time.sleep(0.2)
    for q in queries:
        q.stop()
    print(json.dumps({"seconds": round(time.monotonic() - started, 3), "queries": len(queries)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
