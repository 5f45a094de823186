#!/bin/sh
# starling-center preinstall: the unprivileged user the center and proxy run as.
set -e
if ! getent group starling >/dev/null; then
  groupadd --system starling
fi
if ! getent passwd starling >/dev/null; then
  useradd --system --gid starling --home-dir /var/lib/starling-center --no-create-home \
    --shell /usr/sbin/nologin --comment "Starling center and proxy" starling
fi
exit 0
