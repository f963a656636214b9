"""Critical-state rules: YAML specs, rule kinds (pure Python) and the per-patient evaluator.

Nothing in this package touches Spark, Kafka, files at evaluation time, or the wall clock, so the
same code runs in unit tests, in a batch backtest and inside the streaming job.
"""
