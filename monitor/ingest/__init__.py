"""MQTT ingest into TimescaleDB: batched, idempotent, acknowledged only once durable."""
