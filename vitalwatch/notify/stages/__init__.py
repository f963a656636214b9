"""The delivery stages, each a small class with one method, run by ``notify.dispatch`` per tick:

    offer      route ─► (fallback: unrouted) ─► inhibit ─► silence (mute) ─► group
    flush      due groups ─► inhibit ─► silence ─► dedup ─► submit ─► deliver: send with
               retry ─► record (fallback + dead letter when the retries are spent)
    escalate   unacknowledged alerts ─► the next tier
    missed     what a target missed while down ─► redeliver once
    close      alerts with nothing left to send leave the open set

``open_alerts`` and ``flight`` hold the in-memory state the stages share; ``group``,
``redeliver`` and ``send`` the pure timing and retry logic they use.
"""
