"""Backtests: the streaming job's own transformation run as a Spark batch job over history."""
