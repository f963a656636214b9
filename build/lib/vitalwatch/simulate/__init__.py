"""Reading sources for demos, tests and benchmarks: synthetic patients and PhysioNet replay."""
