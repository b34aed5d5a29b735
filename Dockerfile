# The project image, shared by the Prefect worker, the MLflow server and the policy API
# (docker-compose.yml). CPU torch by default; pass --build-arg TORCH_SPEC=... for another build.
FROM python:3.11-slim

ARG TORCH_SPEC=torch==2.13.0
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    IRL_WORKDIR=/app MPLBACKEND=Agg

RUN apt-get update && apt-get install -y --no-install-recommends git curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 irl

WORKDIR /app
RUN pip install "${TORCH_SPEC}"
COPY pyproject.toml README.md ./
COPY irl ./irl
COPY flows ./flows
COPY serving ./serving
RUN pip install ".[team]"
COPY dvc.yaml params.yaml prefect.yaml .dvcignore ./
RUN mkdir -p data models metrics plots && chown -R irl:irl /app

USER irl
EXPOSE 8000
CMD ["python", "-m", "serving", "--host", "0.0.0.0", "--port", "8000"]
