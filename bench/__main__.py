"""`python -m bench [--quick] [--json FILE] [NAME ...]`: run benchmarks, print a table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench import (
    agents_bench,
    api_offload,
    daemon_load,
    dashboard,
    dask_bench,
    e2e,
    engine,
    loading,
    peers,
    scaleout,
    simulation,
    soak,
    socratic_bench,
)
from bench.core import Benchmark, Figure, table, write_report

BENCHMARKS: dict[str, Benchmark] = {
    "e2e": e2e.e2e,
    "load": loading.load_many,
    "load_largest": loading.load_largest,
    "cold_start": loading.cold_start,
    "fan_out": engine.fan_out,
    "durable": engine.durable,
    "chain": engine.chain_latency,
    "io": engine.io_concurrency,
    "socratic": socratic_bench.socratic,
    "cpu": agents_bench.cpu_fan_out,
    "dask": dask_bench.dask_cpu,
    "http": agents_bench.http,
    "scaleout": scaleout.scaleout,
    "soak": soak.soak,
    "simulation": simulation.simulation,
    "daemon": daemon_load.daemon_load,
    "dashboard": dashboard.dashboard,
    "api_offload": api_offload.api_offload,
}
# Run only when named: needs the optional peers installed (pip install -e '.[peers]').
ON_REQUEST: dict[str, Benchmark] = {"peers": peers.peers}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    known = {**BENCHMARKS, **ON_REQUEST}
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(known))
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test for CI")
    parser.add_argument("--json", type=Path, default=Path("bench/results/latest.json"))
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in known]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(known)}")
    figures: list[Figure] = []
    for name in args.names or list(BENCHMARKS):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        figures.extend(known[name](args.quick))
    print(table(figures))
    write_report(args.json, figures, args.quick)
    print(f"\nwritten to {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
