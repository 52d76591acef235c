"""Redis connection and RQ queue for the current app."""

from __future__ import annotations

from flask import current_app
from redis import Redis
from rq import Queue

QUEUE_NAME = "default"


def redis_connection() -> Redis:
    conn = current_app.extensions.get("abacus_redis")
    if conn is None:
        url = current_app.config["REDIS_URL"]
        if not url:
            from . import embedded

            url = current_app.config["REDIS_URL"] = embedded.redis_url(
                current_app.config["ABACUS"].instance_path)
        conn = Redis.from_url(url, socket_timeout=10)
        current_app.extensions["abacus_redis"] = conn
    return conn


def queue() -> Queue:
    return Queue(QUEUE_NAME, connection=redis_connection())
