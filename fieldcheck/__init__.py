"""fieldcheck: domain and services of door-to-door registry verification campaigns."""

__version__ = "0.1.0"
