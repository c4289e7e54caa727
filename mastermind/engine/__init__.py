"""The engine: a `Definition` in, committed events out.

`coordinator` accepts runs and owns what they share (agents, limits, the process pool, the store);
`run` drives one run in flight through its steps; `agent` is the interface agents implement and the
typed services they may use; `limits`, `retry`, `signals`, `clock` and `process_pool` are the parts
a step's attempt is made of. The engine knows nothing of HTTP, terminals or systemd.
"""
