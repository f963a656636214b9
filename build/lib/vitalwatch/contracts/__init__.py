"""The versioned message contracts: readings in, alerts and dead letters out."""
