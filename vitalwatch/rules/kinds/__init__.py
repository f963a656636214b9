"""The built-in rule kinds, one module per kind: its spec and its per-reading reference step
(``condition()`` or ``step()``), the readable definition of what the kind alerts on.

Each kind's kernel (``RuleKind.kernel()``: one evaluation over a bucket's readings as columns,
see ``vitalwatch.rules.kernel``) is in its kind's module, beside the reference step it must match
alert for alert (``tests/unit/rules/test_engine_differential.py``).

Kinds are registered by name in ``vitalwatch.rules.registry``; the episode lifecycle the
condition kinds share is in ``vitalwatch.rules.episode``.
"""
