"""Background processes: `python worker.py` runs an RQ worker, `python worker.py scheduler`
the rq-scheduler process (run exactly one of those)."""

from __future__ import annotations

import logging
import os
import sys

from abacus import create_app
from abacus.config import ConfigError
from abacus.extensions import QUEUE_NAME, db, redis_connection


def run_worker() -> None:
    from rq import Worker

    from abacus.sync.engine import recover_stale

    recover_stale()  # runs and backfills a dead worker left "running" (a restart, an outage)
    engine = db.engine
    # A forked job must not share the parent's database connections.
    os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
    Worker([QUEUE_NAME], connection=redis_connection()).work(with_scheduler=False)


def run_scheduler() -> None:
    from flask import current_app
    from rq_scheduler import Scheduler

    from abacus.jobs import register_schedules, run_schedules_now, schedules

    scheduler = Scheduler(queue_name=QUEUE_NAME, connection=redis_connection(), interval=30)
    wanted = schedules(current_app.config["ABACUS"])
    ids = register_schedules(scheduler, wanted)
    logging.getLogger("abacus.scheduler").info("schedules registered: %s", ", ".join(ids))
    run_schedules_now(wanted)  # accounts are current from the start, not from the next cron
    scheduler.run()


def _bootstrap_accounts() -> None:
    """Accounts named in ANTHROPIC_ADMIN_KEYS / CURSOR_ADMIN_KEYS exist before any job runs."""
    from abacus.sync.accounts import AccountError, bootstrap_at_start

    try:
        bootstrap_at_start()
    except AccountError as exc:
        sys.exit(f"abacus: configuration error: {exc}")


def main(argv: list[str]) -> None:
    role = argv[1] if len(argv) > 1 else "worker"
    if role not in ("worker", "scheduler"):
        sys.exit("usage: python worker.py [worker|scheduler]")
    try:
        app = create_app()
    except ConfigError as exc:
        sys.exit(f"abacus: configuration error: {exc}")
    with app.app_context():
        _bootstrap_accounts()
        run_worker() if role == "worker" else run_scheduler()


if __name__ == "__main__":
    main(sys.argv)
