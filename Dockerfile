# syntax=docker/dockerfile:1
# One image for every modsys process; docker-compose.yml picks the command:
#   web        gunicorn --config /app/gunicorn.conf.py
#   scheduler  modsys scheduler
#   worker     modsys worker
#   migrate    modsys db upgrade && modsys init
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# torch first, from the CPU-only index: installed as a dependency of detoxify
# it would pull several GB of CUDA wheels. (scripts/bootstrap's local wheel
# shortcut doesn't exist inside the build; this is the same pin.)
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

# The project, installed as a package (migrations ship inside it); the source
# tree isn't kept.
COPY pyproject.toml README.md /src/
COPY modsys /src/modsys
COPY web /src/web
RUN pip install /src && rm -rf /src

# Model weights at build time, so running containers need no internet and
# every container scores with the same verified checkpoint; the int8
# conversion beside it becomes the workers' default backend.
ENV MODSYS_MODEL_DIR=/opt/modsys/models
RUN modsys model fetch --model original
RUN modsys model convert --model original --to onnx-int8

WORKDIR /app
COPY gunicorn.conf.py /app/
COPY policies /app/policies
ENV MODSYS_POLICY=/app/policies/default.yaml

# Never run as root. The app writes nothing to the image at run time (models
# and policies are read-only; gunicorn's metrics go to /tmp) except the audit
# checkpoint log, on the volume mounted at /var/lib/modsys (owned here, so a new
# named volume starts owned by modsys).
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home modsys \
    && mkdir -p /var/lib/modsys && chown modsys:modsys /var/lib/modsys
USER modsys

EXPOSE 8000
CMD ["gunicorn", "--config", "/app/gunicorn.conf.py"]
