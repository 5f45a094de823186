#!/usr/bin/env bash
# Make sure the production-store test databases answer on loopback:
# PostgreSQL on 127.0.0.1:5432 (trust, database "test") and MariaDB on
# 127.0.0.1:3306 (root, no password, database "test"). Installs and starts them
# from Debian's packages when they are missing (needs root); does nothing when
# they already run.
set -euo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install_pkgs() {
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

wait_port() { for _ in $(seq 1 60); do up "$1" && return 0; sleep 0.5; done; echo "port $1 did not open" >&2; return 1; }

if ! up 5432; then
  echo "==> starting PostgreSQL for the store tests" >&2
  install_pkgs postgresql
  ver=$(ls /etc/postgresql | sort -V | tail -1)
  hba=/etc/postgresql/$ver/main/pg_hba.conf
  grep -q "starling-tests" "$hba" || as_root sed -i "1i host all all 127.0.0.1/32 trust # starling-tests" "$hba"
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  wait_port 5432
  as_root su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname='test'\" | grep -q 1 || createdb test" || true
fi

if ! up 3306; then
  echo "==> starting MariaDB for the store tests" >&2
  install_pkgs mariadb-server
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  wait_port 3306
  as_root mariadb -e "CREATE DATABASE IF NOT EXISTS test" || true
fi
