"""Real services for tests and benchmarks of pipelines (ours and users'): nothing here is a
mock; each helper starts the real component on loopback."""
