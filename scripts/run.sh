#!/usr/bin/env bash
# `make run`: the sandbox athena, the hub's web server and its task workers on this machine.
# Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
HOST=127.0.0.1
PORT=${HUB_PORT:-8000}
SANDBOX_PORT=${SANDBOX_PORT:-8100}
export ATHENA_BASE_URL=${ATHENA_BASE_URL:-http://$HOST:$SANDBOX_PORT}
mkdir -p var

pids=()     # the hub's services: when one of them ends, everything stops
helpers=()  # one-off jobs (the first start's demo activity): stopped with the hub, awaited by nothing
stop_all() {
  trap - INT TERM EXIT
  echo
  echo "Stopping the hub …"
  for pid in "${pids[@]}" "${helpers[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop_all INT TERM EXIT

wait_for() {  # url, name
  for _ in $(seq 1 100); do
    if "$BIN/python" -c "import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  echo "$2 did not start; see the output above." >&2
  exit 1
}

if [[ "$ATHENA_BASE_URL" == "http://$HOST:$SANDBOX_PORT" ]]; then
  SANDBOX_CONFIG="{\"webhook\": {\"url\": \"http://$HOST:$PORT/webhooks/athena/\"}}" \
    "$BIN/python" -m sandbox --host "$HOST" --port "$SANDBOX_PORT" --db var/sandbox.sqlite3 &
  pids+=($!)
  wait_for "http://$HOST:$SANDBOX_PORT/_sandbox/stats" "The athena sandbox"
fi

"$BIN/python" manage.py migrate --noinput -v 0
"$BIN/python" manage.py seed_demo

"$BIN/python" manage.py qcluster &
pids+=($!)
"$BIN/gunicorn" hub.wsgi:application --bind "$HOST:$PORT" --worker-class gthread --workers 2 --threads 8 \
  --graceful-timeout 5 --log-level warning &
pids+=($!)
wait_for "http://$HOST:$PORT/healthz" "The hub"

# On the first start, a minute of clinic activity so every queue and dashboard has content.
"$BIN/python" manage.py demo_activity --minutes 1 --first-run-only --hub "http://$HOST:$PORT" \
  > var/demo-activity.log 2>&1 &
helpers+=($!)

cat <<EOT

  Integration Hub is running.
    Staff admin      http://$HOST:$PORT/admin/
    Portal API docs  http://$HOST:$PORT/api/docs/
    athena sandbox   http://$HOST:$SANDBOX_PORT/_sandbox/stats
    Portal sink      http://$HOST:$SANDBOX_PORT/_portal/webhooks

  Demo logins (synthetic data only; second factor: $BIN/python manage.py totp_code --demo USERNAME):
EOT
"$BIN/python" -c "import json,sys; [print(f'    {u:20} {p}') for u,p in json.load(open(sys.argv[1])).get('staff', {}).items()]" var/demo-credentials.json 2>/dev/null || true
echo
echo "  Demo portal client (OAuth client credentials at http://$HOST:$PORT/o/token/):"
"$BIN/python" -c "import json,sys; c=json.load(open(sys.argv[1])).get('portal', {}); print(f\"    client_id     {c.get('client_id', '-')}\n    client_secret {c.get('client_secret', '-')}\")" var/demo-credentials.json 2>/dev/null || true
echo
echo "  Press Ctrl-C to stop."
wait -n "${pids[@]}"
