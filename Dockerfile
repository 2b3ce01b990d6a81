# The pipeline's Python app for docker-compose.yml: the producer and the processor (Spark driver).
# Java runs the driver's JVM; the Kafka connector and JDBC jars are fetched by a build stage with
# the same pom and fetcher as native mode, and only the jars reach the runtime image, which has
# neither Maven nor the development tools (requirements-runtime.txt, not requirements.txt).
FROM python:3.11-slim-bookworm AS jars

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless maven \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements-runtime.txt ./
RUN pip install -r requirements-runtime.txt
COPY .env.example ./
COPY infra/ infra/
COPY config/spark/ config/spark/
RUN python -m infra fetch-spark-jars

FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps \
    && rm -rf /var/lib/apt/lists/*

# Same uid as the apache/spark image's `spark` user: driver and executors share checkpoint files.
RUN groupadd --gid 185 spark && useradd --uid 185 --gid 185 --create-home spark

WORKDIR /app
COPY requirements-runtime.txt ./
RUN pip install -r requirements-runtime.txt

COPY .env.example ./
COPY infra/ infra/
COPY config/spark/ config/spark/
COPY --from=jars /app/.local/jars/ /app/.local/jars/

COPY db/ db/
COPY contract/ contract/
COPY producer/ producer/
COPY processor/ processor/
RUN mkdir -p /app/.local/ledgers /opt/spark/work-dir \
    && chown -R spark:spark /app/.local /opt/spark/work-dir

USER spark
CMD ["python", "-m", "processor.status"]
