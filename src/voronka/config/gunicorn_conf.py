"""gunicorn settings of `voronka serve` (passed as ``-c python:voronka.config.gunicorn_conf``):
the product's log format for the master, the web workers and the access log (config/logs.py)."""

from __future__ import annotations

import os

from voronka.config.logs import gunicorn_logging

logconfig_dict = gunicorn_logging(os.environ.get("VORONKA_LOG_LEVEL", "INFO").upper())
# The access line: client, request line (path without the query: no search terms or tokens in
# logs), status, duration. The time, pid and logger name come from the shared format.
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(M)sms'
timeout = 60
# gunicorn ≥ 25 opens a control socket in ~/.gunicorn by default: one path shared by every
# instance of the user; the product does not use it.
control_socket_disable = True
