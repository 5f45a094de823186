#!/bin/sh
# starling-center preremove; arguments as for the agent.
set -e
case "$1" in
  remove|deconfigure|0)
    if [ -d /run/systemd/system ]; then
      systemctl disable --now starling-center.service starling-proxy.service >/dev/null 2>&1 || true
    fi
    ;;
esac
exit 0
