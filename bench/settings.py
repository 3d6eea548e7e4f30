"""The product's settings with the bench URLconf (the app plus a plain JSON view to compare with).

DEBUG stays off (the bench script sets VORONKA_DEBUG=0): with DEBUG on Django keeps every query
in memory, which is not what production pays.
"""

from voronka.config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
