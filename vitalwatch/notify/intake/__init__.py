"""Reading the alerts topic: what may be committed, dead letters with delivery reports, backoff."""
