# vitalwatch image: Python + a JDK 17 runtime for Spark; jars resolved at build time.
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/vitalwatch
COPY pyproject.toml README.md ./
COPY vitalwatch ./vitalwatch
COPY rules ./rules
RUN pip install --no-cache-dir . && vitalwatch kafka fetch
ENV VITALWATCH_CACHE_DIR=/root/.cache/vitalwatch VITALWATCH_LOG_FORMAT=json
ENTRYPOINT ["vitalwatch"]
CMD ["run"]
