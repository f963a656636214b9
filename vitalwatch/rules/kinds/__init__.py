"""The built-in rule kinds, one module per kind: its spec and its per-reading reference step
(``condition()`` or ``step()``), the readable definition of what the kind alerts on.

No kind has a kernel yet. A kernel (one evaluation over a bucket's readings as columns) goes in
its kind's module, beside the reference step it must match alert for alert.

Kinds are registered by name in ``vitalwatch.rules.registry``; the episode lifecycle the
condition kinds share is in ``vitalwatch.rules.episode``.
"""
