#!/bin/sh
# starling-agent preremove (deb prerm and rpm %preun).
# deb: $1 = remove | upgrade | deconfigure | failed-upgrade
# rpm: $1 = how many versions remain (0 = erase, 1 = upgrade)
set -e
case "$1" in
  remove|deconfigure|0)
    if [ -d /run/systemd/system ]; then
      systemctl disable --now starling-agent.service >/dev/null 2>&1 || true
    fi
    ;;
esac
exit 0
