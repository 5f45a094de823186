#!/bin/sh
# starling-center postinstall (deb postinst and rpm %post); arguments as for the agent.
set -e
upgrade=no
case "$1" in
  configure) [ -n "$2" ] && upgrade=yes ;;
  [0-9]*) [ "$1" -ge 2 ] && upgrade=yes ;;
esac
install -d -m 0750 -o starling -g starling /var/lib/starling-center
# Tokens and the admin key: root writes, the starling group reads, nobody else.
for f in /etc/starling/center.toml /etc/starling/proxy.toml; do
  [ -f "$f" ] && chown root:starling "$f" && chmod 0640 "$f"
done
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
  if [ "$upgrade" = yes ]; then
    systemctl try-restart starling-center.service starling-proxy.service >/dev/null 2>&1 || true
  fi
fi
exit 0
