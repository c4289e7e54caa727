"""mastermind's benchmarks: `python -m bench [--quick] [NAME ...]`."""
