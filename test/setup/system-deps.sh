#!/usr/bin/env bash
# The system packages the test suite runs for real, installed from Debian's packages when
# missing: `npm test` calls this first, so the README's test command works on a fresh Debian
# machine by itself (and .ci/run only runs `npm ci` and `npm test`). Their services are never
# started by the install: the tests start their own servers on free loopback ports.
#
#   redis-server, redis-tools   test Redis (test/helpers/redis.ts)
#   nginx-light (or nginx)      the shipped deploy/nginx.conf, run live (test/deploy/)
#   curl                        the README's quick start (test/unit/readme.test.ts)
#   chromium                    the demo's browser test (playwright-core drives it)
#   python3-socketio …          interop with a Socket.IO client nobody here wrote
#   postgresql                  the message archive's tests (initdb + postgres, own port)
#   prometheus                  its promtool checks deploy/prometheus/alerts.yml (test/metrics/dashboards.test.ts)
set -euo pipefail

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
{ [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1; } || missing+=(nginx-light)
command -v curl >/dev/null 2>&1 || missing+=(curl)
[ -x /usr/bin/chromium ] || missing+=(chromium)
/usr/bin/python3 -c 'import socketio, websocket, requests' >/dev/null 2>&1 || missing+=(python3-socketio python3-websocket python3-requests)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "missing system packages: ${missing[*]}" >&2
  echo "install them (Debian: sudo apt-get install -y ${missing[*]}) and run the tests again" >&2
  exit 1
fi

echo "installing from Debian's packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# the packages' services must not start (nginx would take port 80, PostgreSQL 5432)
policy_added=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && policy_added=1
fi
trap '[ "$policy_added" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
# nginx-light where Debian still has it (bookworm), else nginx
if ! apt-get install -y -qq "${missing[@]}" >/dev/null; then
  apt-get install -y -qq "${missing[@]/nginx-light/nginx}" >/dev/null
fi
