"""Alerts that reach a person: session events delivered through apprise URLs (chat, email, webhooks).

events.py  what each event says (pure builders, no I/O)
delivery.py  apprise targets, one worker thread per URL, per-kind throttling with digests, a bounded flush at exit
watch.py  a session's alerts: polls the strategy's state on the node's loop and emits events

Nothing here imports apprise until a profile configures `alerts.urls`.
"""
