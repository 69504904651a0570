"""Adaptive searches: the required size and the minimum detectable effect with their
95% intervals (:mod:`.adaptive`, :mod:`.questions`, :mod:`.result`)."""
