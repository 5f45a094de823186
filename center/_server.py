"""Process entry points for the center and proxy roles."""

from __future__ import annotations

import hashlib
import logging
import signal
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import trio
from hypercorn.config import Config as HyperConfig
from hypercorn.trio import serve as hyper_serve

from transports import (
    AEAD_CIPHERS,
    ConnGate,
    client_context,
    create_private,
    get_carrier,
    private_dir,
    server_context,
    set_log_context,
    settle_heap,
    setup_logging,
)

from ._center import Center
from ._config import CenterConfig, ProxyConfig
from ._http import API_KEEP_ALIVE, keep_alive_after_refusal
from ._limits import conn_limits, fit_open_files, raise_open_files_limit
from ._pki import ensure_signing_key, issue_cert

log = logging.getLogger("starling.center")


def center_tls(cfg: CenterConfig) -> tuple[str, str, str]:
    """Certificate, key and CA for the center, made by the embedded CA if not given."""
    if cfg.cert_file and cfg.key_file:
        return cfg.cert_file, cfg.key_file, cfg.ca_file
    pki = Path(cfg.state_dir) / "pki"
    cert, key = issue_cert(pki, "center", cfg.tls_hosts)
    return str(cert), str(key), str(pki / "ca.pem")


def _host_port(url: str) -> str:
    rest = url.split("://", 1)[-1].rstrip("/")
    return rest


async def _until_signal(nursery: trio.Nursery) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for _ in signals:
            log.info("signal received; stopping")
            nursery.cancel_scope.cancel()
            return


def check_schema(store: Any) -> None:
    """Say loudly when the code's tables differ from the migrated database:
    a schema change landed without its migration."""
    from ._migrate import schema_diff

    diff = schema_diff(store.engine)
    if diff:
        log.error("the database schema differs from the code (a migration is missing: `starling db revision`): %s", diff[:5])


def accounts_box(cfg: CenterConfig) -> Any:
    """The key that seals account secrets (made on first start)."""
    from ._accounts import SecretBox

    return SecretBox.from_file(Path(cfg.accounts_key_file or Path(cfg.state_dir) / "keys" / "accounts.key"))


def open_store(cfg: CenterConfig) -> Any:
    from ._filemodes import tighten_center_files
    from ._store import Store

    state = private_dir(cfg.state_dir)
    tighten_center_files(cfg)
    if not cfg.db:
        create_private(state / "center.db")  # SQLite gives its -wal/-shm files the same mode
    return Store(cfg.db or f"sqlite:///{state / 'center.db'}")


def _prepare_center(cfg: CenterConfig) -> tuple[Any, Any, Any]:
    """Blocking start-up work: state dir, schema, bootstrap account, signing key."""
    from ._accounts import ensure_admin

    store_sync = open_store(cfg)
    store_sync.migrate()
    check_schema(store_sync)
    box = accounts_box(cfg)
    if cfg.admin_key_id and cfg.admin_secret:
        ensure_admin(store_sync, box, cfg.admin_key_id, cfg.admin_secret)
    return store_sync, ensure_signing_key(Path(cfg.state_dir) / "keys" / "center-ed25519.pem"), box


def make_policy(cfg: CenterConfig) -> Any:
    import base64

    from ._policy import Policy
    from .security import RuleSet

    rules = RuleSet.load(cfg.risk_rules) if cfg.risk_rules else None
    try:
        publishers = [base64.b64decode(k, validate=True) for k in cfg.plugin_publishers]
    except ValueError as exc:
        raise SystemExit(f"plugin_publishers: not base64: {exc}") from exc
    return Policy(rules, action_rules=cfg.action_rules, publishers=publishers)


async def run_center(cfg: CenterConfig, *, settle: bool = False, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """Run one center; ``settle``: its own process, so freeze the start-up heap once up
    (:func:`transports.settle_heap`)."""
    from ._accounts import make_authenticator
    from ._api import build_app
    from ._audit import make_audit_trail
    from ._store import AsyncStore

    gate = ConnGate(fit_open_files(conn_limits(cfg), raise_open_files_limit(), "center"), f"center {cfg.center_id}")
    store_sync, signing_key, box = _prepare_center(cfg)
    store = AsyncStore(store_sync)
    trail = make_audit_trail(cfg, store)
    center = Center(
        store, signing_key, proxy_token=cfg.proxy_token, policy=make_policy(cfg), audit=trail, center_id=cfg.center_id,
        dispatch_grace=cfg.dispatch_grace, heartbeat=cfg.heartbeat, grace_heartbeats=cfg.grace_heartbeats,
        enroll_token=cfg.enroll_token,
    )
    from ._files import CenterFiles

    center.files = CenterFiles(Path(cfg.files_dir or Path(cfg.state_dir) / "chunks"), store, cfg.center_id, cfg.max_file_bytes)
    center.offline_after, center.diagnoser.min_version = cfg.offline_after, cfg.min_agent_version
    center.diagnoser.load_limit, center.diagnoser.clock_limit = cfg.diag_load_per_cpu, cfg.diag_clock_skew
    center.chat_secrets, center.chat_account = dict(cfg.chat_secrets), cfg.chat_account
    center.console_config = cfg.console
    cert, key, _ca = center_tls(cfg)
    app = build_app(center, trail, authenticate=make_authenticator(store_sync, box), secret_box=box)
    hc = HyperConfig()
    hc.bind = [_host_port(cfg.api)]
    if cfg.api.startswith("https"):
        hc.certfile, hc.keyfile = cert, key
        hc.ciphers = AEAD_CIPHERS  # the same TLS 1.2 suites as every other listener
    hc.accesslog = None
    hc.errorlog = logging.getLogger("hypercorn.error")
    hc.graceful_timeout = 2
    # Idle keep-alive connections outlive the clients' own expiry (httpx: 5 s, hypercorn's
    # default too): with equal timeouts a request sent as the server closed the connection
    # was lost ("server disconnected"). The client closes first now.
    hc.keep_alive_timeout = API_KEEP_ALIVE
    # HTTP/1.1 only: hypercorn 0.18's HTTP/2 path raises KeyError on data for a WebSocket stream it
    # has closed (a browser closing a terminal), and under trio that ends the whole server
    # (pgjones/hypercorn#329, fixes #312/#334 unmerged). Browsers then open WebSockets the classic way.
    hc.alpn_protocols = ["http/1.1"]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_until_signal, nursery)
        bound = await nursery.start(
            lambda task_status: get_carrier(cfg.proxy_listen).serve(
                cfg.proxy_listen, center.proxy_session, ssl_context=server_context(cert, key),
                limits=gate, task_status=task_status,
            )
        )
        api = await nursery.start(lambda task_status: hyper_serve(keep_alive_after_refusal(app), hc, task_status=task_status))  # type: ignore[arg-type]
        await nursery.start(center.run)
        nursery.start_soon(gate.run_trimmer)
        center.placement.share = cfg.borrow_share
        nursery.start_soon(center.placement.run)
        if cfg.cmdb_source and cfg.cmdb_sync_interval > 0:
            from ._cmdb import keep_in_sync

            nursery.start_soon(keep_in_sync, center, cfg.cmdb_source, cfg.cmdb_sync_interval)
        nursery.start_soon(trail.run)
        log.info("center %s serving API on %s, proxies on %s", cfg.center_id, api, bound)
        if settle:
            nursery.start_soon(partial(settle_heap, population=lambda: len(center.presence)))
        task_status.started({"api": api, "proxy_listen": bound, "center": center})


async def run_proxy(cfg: ProxyConfig, *, worker: str = "", settle: bool = False, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """Run one proxy process: the whole proxy, or (``worker`` "w0", "w1" ...)
    one of ``cfg.workers`` processes sharing its TCP port; see
    :func:`center.proxy.run_workers`. ``settle``: its own process, so freeze the start-up
    heap once up (:func:`transports.settle_heap`)."""
    from .proxy import Proxy, ProxyFiles, worker_count

    if not (cfg.cert_file and cfg.key_file):
        raise SystemExit("proxy needs cert_file and key_file (starling up makes them)")
    workers = worker_count(cfg) if worker else 1
    client_ssl = client_context(cfg.ca_file or None)
    srv_ssl = server_context(cfg.cert_file, cfg.key_file)
    limits = fit_open_files(conn_limits(cfg), raise_open_files_limit(), "proxy")
    gate = ConnGate(limits, f"proxy {cfg.proxy_id}")  # one set of counts for every listener
    proxy = Proxy(
        proxy_id=cfg.proxy_id, idc=cfg.idc, centers=cfg.centers, proxy_token=cfg.proxy_token,
        advertise=[], client_ssl=client_ssl, heartbeat=cfg.heartbeat, capacity=-(-cfg.capacity // workers),
        flush_interval=cfg.flush_interval, worker=worker, workers=workers,
    )
    # Default: a temp dir unique to this proxy's listeners (two proxies on one
    # machine never share a cache by accident), and to the worker.
    where = hashlib.sha256(" ".join(cfg.listen).encode()).hexdigest()[:10]
    cache = Path(cfg.cache_dir) if cfg.cache_dir else Path(tempfile.gettempdir()) / f"starling-{cfg.proxy_id}-{where}-chunks"
    if worker:
        cache = cache.with_name(f"{cache.name}-{worker}")
    proxy.files = ProxyFiles(proxy, cache, cfg.cache_bytes, rate=cfg.file_rate)
    first = worker in ("", "w0")  # serves what cannot be shared between workers
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_until_signal, nursery)
        bound = []
        for url in cfg.listen:
            shared = bool(worker) and url.startswith("tcp://")
            if not (shared or first):
                continue  # QUIC and HTTP sessions are not spread over workers: worker 0 serves them
            extra = {"reuse_port": True} if shared else {}
            bound.append(
                await nursery.start(
                    lambda task_status, url=url, extra=extra: get_carrier(url).serve(
                        url, proxy.agent_session, ssl_context=srv_ssl, limits=gate, task_status=task_status, **extra
                    )
                )
            )
        proxy.advertise = cfg.advertise or bound
        if cfg.http_listen and first:
            from .proxy import serve_proxy_http

            await nursery.start(lambda task_status: serve_proxy_http(proxy, cfg.http_listen, task_status=task_status))
        nursery.start_soon(proxy.run_links)
        nursery.start_soon(gate.run_trimmer)
        log.info("proxy %s%s (%s) serving agents on %s", cfg.proxy_id, f" worker {worker}" if worker else "", cfg.idc, ", ".join(bound))
        if settle:
            nursery.start_soon(partial(settle_heap, population=lambda: len(proxy.agents)))
        task_status.started({"listen": bound, "proxy": proxy, "gate": gate})


def main_center(config_path: str | None) -> int:
    from ._config import load

    cfg = load(CenterConfig, config_path, "center")
    setup_logging(cfg.log_level, cfg.log_file, role="center")
    if config_path:
        from transports import tighten_private

        tighten_private([config_path])
    set_log_context(center_id=cfg.center_id)
    trio.run(partial(run_center, cfg, settle=True))
    return 0


def main_proxy(config_path: str | None) -> int:
    from ._config import load

    cfg = load(ProxyConfig, config_path, "proxy")
    setup_logging(cfg.log_level, cfg.log_file, role="proxy")
    from ._filemodes import tighten_proxy_files

    tighten_proxy_files(cfg, config_path)
    set_log_context(proxy_id=cfg.proxy_id, idc=cfg.idc)
    from .proxy import run_workers, worker_count

    if worker_count(cfg) > 1:
        trio.run(run_workers, cfg, config_path)
    else:
        trio.run(partial(run_proxy, cfg, settle=True))
    return 0
