"""The `voronka` command: a thin front for Django management commands.

voronka migrate | serve [--port N] | worker | demo | token USERNAME | seed --deals N
voronka automation export | import FILE [--replace] | dry-run FILE --since DATE
voronka export deals|companies|contacts|tasks --format csv|xlsx [--as USERNAME] [name=value…]
voronka import contacts|companies|deals FILE [--mapping auto|FILE.json] [--as USERNAME]
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voronka.config.settings")
    argv = sys.argv[1:]
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__)
        return
    command, rest = argv[0], argv[1:]
    if command == "serve":
        _serve(rest)
        return
    aliases = {
        "worker": "voronka_worker",
        "demo": "voronka_demo",
        "token": "voronka_token",
        "seed": "voronka_seed",
        "automation": "voronka_automation",
        "export": "voronka_export",
        "import": "voronka_import",
        "duplicates": "voronka_duplicates",
    }
    from django.core.management import execute_from_command_line

    if command == "worker" and not any(a in rest for a in ("--reload", "--no-reload")):
        rest = ["--no-reload", *rest]  # the worker is a long-lived process, not a dev server
    execute_from_command_line(["voronka", aliases.get(command, command), *rest])


def _serve(args: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="voronka serve")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--host", default=os.environ.get("VORONKA_HOST", "127.0.0.1"))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
    opts = parser.parse_args(args)
    # Static files with their compressed twins, served by WhiteNoise (web/static_files.py).
    import django
    from django.core.management import call_command

    django.setup()
    call_command("collectstatic", interactive=False, verbosity=0)
    os.execvp(
        sys.executable,
        [
            sys.executable,
            "-m",
            "gunicorn",
            "voronka.config.wsgi:application",
            "--bind",
            f"{opts.host}:{opts.port}",
            "--workers",
            str(opts.workers),
            # Logs (one format and zone with the task worker, no polling noise) and timeouts.
            "--config",
            "python:voronka.config.gunicorn_conf",
        ],
    )


if __name__ == "__main__":
    main()
