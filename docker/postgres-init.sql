-- One server, one database per service (docker-compose.yml mounts this into the postgres image).
CREATE DATABASE mlflow;
CREATE DATABASE prefect;
