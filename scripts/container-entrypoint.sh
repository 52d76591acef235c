#!/bin/sh
# The image's roles: web | worker | scheduler | migrate | flask … (anything else runs as is).
set -e
role="${1:-web}"
case "$role" in
  web)
    [ "$#" -gt 0 ] && shift
    exec gunicorn --bind "0.0.0.0:${PORT:-8000}" --workers "${WEB_WORKERS:-2}" \
      --threads "${WEB_THREADS:-4}" --no-control-socket --access-logfile - --error-logfile - "$@" wsgi:app
    ;;
  worker)    exec python3 /app/worker.py worker ;;
  scheduler) exec python3 /app/worker.py scheduler ;;
  migrate)   exec flask db upgrade ;;
  flask)     shift; exec flask "$@" ;;
  *)         exec "$@" ;;
esac
