"""The daemon: `mastermind serve` and the scale-out worker.

`daemon` is the lifecycle (systemd notify, watchdog, reload, drain); `api` and `openapi` the HTTP
API; `metrics` the Prometheus exposition fed by committed events; `triggers` cron and webhooks;
`worker` claims runs from PostgreSQL under leases; `config` the daemon's settings.
"""
