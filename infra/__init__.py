"""Bring the pipeline's services up and down: Kafka, PostgreSQL, Spark jars and Grafana."""
