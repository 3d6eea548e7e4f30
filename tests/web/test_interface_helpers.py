"""One definition of each interface helper (issue 8, "one rule in one place").

`_actor`, `_htmx`, `_status`, the redirect guards and three keyset paginators had been
written again in each views/api module, and had drifted (an htmx check `== "true"` here, any
value there; two redirect guards, one of them open to `/\t/evil.com`). They live in
voronka.web.http and voronka.kernel.pagination now. This test reads every module of src/ and
fails when a second copy appears — by name, or by what the code does (reads the HX-Request
header, calls Django's redirect guard, builds an actor from `request.user`, base64-encodes a
cursor). Negative control: the same scan over a module with such a copy reports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "voronka"
HOMES = {"web/http.py", "kernel/pagination.py"}

# Names the copies had (and names a new copy would likely get).
COPY_NAMES = {
    "_actor",
    "_api_actor",
    "_htmx",
    "_is_htmx",
    "_htmx_target",
    "_status",
    "_error_status",
    "_not_found",
    "_safe",
    "_safe_next",
    "_safe_url",
    "_is_safe_url",
    "_next_url",
    "_next_page",  # ("_page" is also web/error_pages' renderer of an error page)
    "_after",
    "_cursor",
    "_keyset",
    "encode_cursor",
    "decode_cursor",
    "next_cursor",
}
GUARD_CALLS = {"url_has_allowed_host_and_scheme", "urlsafe_b64encode", "urlsafe_b64decode"}


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def copies_in(source: str, where: str) -> list[str]:
    """What in `source` re-implements an interface helper."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in COPY_NAMES:
            found.append(f"{where}:{node.lineno} def {node.name}")
        if not isinstance(node, ast.Call):
            continue
        called = _name(node.func)
        if called in GUARD_CALLS:
            found.append(f"{where}:{node.lineno} {called}()")
        func = node.func
        if (
            called == "get"
            and node.args
            and isinstance(func, ast.Attribute)
            and _name(func.value) == "headers"
        ):
            first = node.args[0]
            if isinstance(first, ast.Constant) and first.value == "HX-Request":
                found.append(f"{where}:{node.lineno} reads HX-Request")
        if called == "for_user" and node.args:
            first = node.args[0]
            if (
                isinstance(first, ast.Attribute)
                and first.attr == "user"
                and _name(first.value) == "request"
            ):
                found.append(f"{where}:{node.lineno} Actor.for_user(request.user, …)")
    return found


def scan(root: Path, homes: set[str]) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel in homes or "/migrations/" in rel:
            continue
        found += copies_in(path.read_text(encoding="utf-8"), rel)
    return found


def test_each_interface_helper_is_defined_once() -> None:
    assert scan(SRC, HOMES) == []


def test_the_homes_hold_what_the_scan_looks_for() -> None:
    """Not vacuous: without the allow-list the scan finds the one definitions."""
    found = " ".join(scan(SRC, set()))
    for fingerprint in (
        "web/http.py",
        "reads HX-Request",
        "url_has_allowed_host_and_scheme()",
        "Actor.for_user(request.user, …)",
        "kernel/pagination.py",
        "urlsafe_b64encode()",
    ):
        assert fingerprint in found


COPY = """
from django.utils.http import url_has_allowed_host_and_scheme

def _actor(request):
    return Actor.for_user(request.user, request=request)

def _is_htmx(request):
    return request.headers.get("HX-Request") == "true"

def next_cursor(rows):
    return base64.urlsafe_b64encode(b"[]")

def back(request):
    return url_has_allowed_host_and_scheme(request.GET["next"], None)
"""


def test_negative_control_a_copy_is_reported(tmp_path: Path) -> None:
    (tmp_path / "views.py").write_text(COPY, encoding="utf-8")
    found = scan(tmp_path, set())
    assert len(found) == 7, found
