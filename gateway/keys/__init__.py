"""Virtual keys, spend and limits.

* :mod:`~gateway.keys.model` - the key format (hash-only storage) and budget windows;
* :mod:`~gateway.keys.store` - the ``virtual_keys`` and ``spend_logs`` tables (migration ``0004_keys_spend``);
* :mod:`~gateway.keys.service` - lookup, admission and batched spend recording (the interface for other callers);
* :mod:`~gateway.keys.counters` - rpm/tpm/spend counters in one process's memory;
* :mod:`~gateway.keys.synced` - the same shared through Redis, synced in the background (stated tolerances);
* :mod:`~gateway.keys.limits` - the 429s and the ``anthropic-ratelimit-*`` headers;
* :mod:`~gateway.keys.pricing` - per-deployment prices or LiteLLM's model price map;
* :mod:`~gateway.keys.metering` - native Messages calls: admit, relay, record;
* :mod:`~gateway.keys.admin` - the ``/key/*`` and ``/spend/logs`` admin API (master key only).
"""
