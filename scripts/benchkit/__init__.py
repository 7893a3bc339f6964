"""The pieces of scripts/bench.py: same-run baselines, the server load, the engine, start-up."""
