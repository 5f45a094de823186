#!/bin/sh
# starling-center postremove; arguments as for the agent.
set -e
case "$1" in
  remove|purge|0)
    rm -rf /opt/starling/center
    rmdir /opt/starling 2>/dev/null || true
    [ -d /run/systemd/system ] && systemctl daemon-reload >/dev/null 2>&1 || true
    ;;
esac
if [ "$1" = purge ]; then
  # The center's own state (embedded CA, SQLite store, signing key). The `starling`
  # user stays, as Debian policy asks of system users (files may still carry its uid).
  rm -rf /var/lib/starling-center
  rmdir /etc/starling 2>/dev/null || true
fi
exit 0
