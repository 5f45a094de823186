#!/bin/sh
# starling-agent postremove (deb postrm and rpm %postun).
# deb: $1 = remove | purge | upgrade | ...; rpm: $1 = 0 on erase, 1 on upgrade.
set -e
case "$1" in
  remove|purge|0)
    # Bytecode Python may have written beside the bundle; the bundle dir is ours alone.
    rm -rf /opt/starling/agent
    rmdir /opt/starling 2>/dev/null || true
    [ -d /run/systemd/system ] && systemctl daemon-reload >/dev/null 2>&1 || true
    ;;
esac
if [ "$1" = purge ]; then
  # Purge: the host's identity key, enrollment and journal go too (config files are
  # dpkg's conffiles, which it removes itself). rpm keeps state on erase, as rpm does.
  rm -rf /var/lib/starling
  rmdir /etc/starling 2>/dev/null || true
fi
exit 0
