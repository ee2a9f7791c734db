"""modsys: community moderation and ban-appeal system (the domain layer).

Nothing in this package imports Flask: the web layer depends on the domain,
never the other way round.
"""

__version__ = "0.1.0"
