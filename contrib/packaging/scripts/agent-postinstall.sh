#!/bin/sh
# starling-agent postinstall (deb postinst and rpm %post).
# deb: $1 = configure, $2 = the version configured before ("" on a first install)
# rpm: $1 = how many versions are installed now (1 = first install, 2 = upgrade)
set -e
upgrade=no
case "$1" in
  configure) [ -n "$2" ] && upgrade=yes ;;
  [0-9]*) [ "$1" -ge 2 ] && upgrade=yes ;;
esac
install -d -m 0700 /var/lib/starling
# The config holds the enrollment token; a kept (edited) copy stays root-only too.
[ -f /etc/starling/agent.toml ] && chmod 0600 /etc/starling/agent.toml
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
  if [ "$upgrade" = yes ]; then
    # Running agents restart into the new version; a stopped one stays stopped.
    systemctl try-restart starling-agent.service >/dev/null 2>&1 || true
  fi
fi
if [ "$upgrade" = no ]; then
  echo "starling-agent: set center and enroll_token in /etc/starling/agent.toml, then: systemctl enable --now starling-agent"
fi
exit 0
