"""Benchmarks and the fake upstreams they (and the gateway's tests) run against."""
