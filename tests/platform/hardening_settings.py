"""The production settings plus one URL that raises, to see the 500 page a user would get."""

from voronka.config.settings import *  # noqa: F403

ROOT_URLCONF = "hardening_urls"
