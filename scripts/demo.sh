#!/usr/bin/env bash
# Runs the demo shop at http://127.0.0.1:8000 with a Celery worker beside it,
# on the embedded defaults (SQLite + filesystem broker under var/).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
# The demo shop (shop/, worker/) is not part of the installed package: it is imported
# from the repository root.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-shop.settings}
# The demo is a development server: DEBUG on explicitly (the settings default to off), and
# without DJANGO_SECRET_KEY the settings generate a key once into var/secret-key.
export DJANGO_DEBUG=${DJANGO_DEBUG:-1}
mkdir -p var

$BIN/python manage.py migrate --noinput
PASSWORD_FILE=var/admin-password.txt
if [ ! -s "$PASSWORD_FILE" ]; then
  $BIN/python -c 'import secrets; print(secrets.token_urlsafe(12))' > "$PASSWORD_FILE"
fi
PASSWORD=$(cat "$PASSWORD_FILE")
DEMO_ADMIN_PASSWORD="$PASSWORD" $BIN/python manage.py shell -c '
import os
from django.contrib.auth import get_user_model
user, _ = get_user_model().objects.get_or_create(username="admin", defaults={"email": "admin@example.com"})
user.is_staff = user.is_superuser = True
user.set_password(os.environ["DEMO_ADMIN_PASSWORD"])
user.save()
'

# The worker runs first so the catalogue's photos are analysed as they arrive; it also
# analyses shoppers' photos for search by photo (the interactive queue, listed first).
$BIN/celery -A worker worker -Q jewel_vision_interactive,jewel_vision -B --concurrency 1 --loglevel INFO \
  --logfile var/worker.log --pidfile var/worker.pid &
WORKER=$!
trap 'kill $WORKER 2>/dev/null; wait $WORKER 2>/dev/null' EXIT INT TERM

$BIN/jewel-vision import-catalog ${CATALOG_DIR:-}

cat <<MSG

  Demo shop:  http://127.0.0.1:8000/
  Admin:      http://127.0.0.1:8000/admin/   user: admin   password: $PASSWORD
  Worker log: var/worker.log  (photos are tagged in the background)

MSG
$BIN/python manage.py runserver 127.0.0.1:8000 --noreload
