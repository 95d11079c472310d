#!/usr/bin/env bash
# Start PostgreSQL and MariaDB on 127.0.0.1 if they are not already answering; wait for both.
set -uo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 5432 && command -v pg_ctlcluster >/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
if ! port_open 3306 && [ -x /usr/sbin/mariadbd ]; then
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
fi
for _ in $(seq 1 60); do
  port_open 5432 && port_open 3306 && exit 0
  sleep 1
done
echo "services: PostgreSQL (5432) or MariaDB (3306) did not come up; their tests will fail in CI" >&2
