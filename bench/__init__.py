"""Benchmarks: `make bench` prints figures and writes JSON under bench/results/."""
