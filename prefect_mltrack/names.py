"""Readable run names (``adjective-noun-123``), as MLflow generates them for unnamed runs."""

from __future__ import annotations

import random

_ADJECTIVES = (
    "able amazing bold brave bright calm clean clever cool crisp curious daring eager fair fast "
    "fierce gentle glad grand happy honest humble keen kind lively loud lucky merry mighty neat "
    "nimble noble polite proud quick quiet rare rich royal shy silent smart snappy solid swift "
    "tidy upbeat vivid warm wise witty young zesty"
).split()
_NOUNS = (
    "ant bass bat bear bee bird boar carp cat colt crab crane crow deer dog dove duck eagle eel "
    "elk finch fish fox frog gnat goat goose hare hawk hen horse jay koala lamb lark lion lynx "
    "mole moose mouse newt owl ox panda pig pony quail ram rat robin seal shark sheep snail "
    "sow squid stork swan tern toad trout wasp whale wolf worm yak zebra"
).split()


def generate_run_name() -> str:
    """A fresh name such as ``'swift-owl-417'``."""
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(0, 999)}"
