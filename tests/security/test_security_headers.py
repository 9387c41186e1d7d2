"""Security headers on every page, fragment and error; cookie flags; templates that need no
'unsafe-inline'; every |safe / Markup justified."""

from __future__ import annotations

import pathlib
import re

import pytest
from security_routes import rules, url

from app.auth.session import NO_USER_ENDPOINTS
from app.config import ProductionConfig
from app.usage.report_fragment import REPORT_TEMPLATE

TEMPLATES = pathlib.Path(__file__).resolve().parents[2] / "templates"
APP_DIR = pathlib.Path(__file__).resolve().parents[2] / "app"


def assert_security_headers(response, where: str = "") -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    assert directives.get("frame-ancestors") == "'none'", where
    assert directives.get("script-src") == "'self'", where
    assert directives.get("style-src") == "'self'", where
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, where
    assert directives.get("object-src") == "'none'", where
    assert response.headers.get("X-Content-Type-Options") == "nosniff", where
    assert response.headers.get("Referrer-Policy") in ("same-origin", "no-referrer"), where
    assert response.headers.get("X-Frame-Options") == "DENY", where


@pytest.fixture
def admin_with_key(client, sign_in, make_user, make_key):
    admin = make_user("admin@example.com", is_admin=True)
    key = make_key(admin, "laptop")
    sign_in("admin@example.com")
    return admin, key


@pytest.mark.parametrize("hx", [False, True], ids=["page", "fragment"])
def test_headers_on_every_get_route(app, client, admin_with_key, hx):
    admin, key = admin_with_key
    headers = {"HX-Request": "true"} if hx else {}
    seen = set()
    for rule in rules(app, "GET"):
        response = client.get(url(rule, key_id=key.id, user_id=admin.id), headers=headers)
        assert response.status_code < 500, rule.rule
        assert_security_headers(response, rule.rule)
        seen.add(response.status_code)
    assert 200 in seen


def test_headers_on_static_files_and_error_pages(app, client, admin_with_key, monkeypatch):
    static = client.get("/static/css/portal.css")
    assert_security_headers(static, "static")
    static.close()
    for path, status in [
        ("/no/such/page", 404),
        ("/usage?key=999999", 404),
        ("/usage?preset=bogus", 400),
    ]:
        for headers in ({}, {"HX-Request": "true"}):
            response = client.get(path, headers=headers)
            assert response.status_code == status, path
            assert_security_headers(response, path)
    refused = client.post("/keys", data={})  # CSRF refusal
    assert refused.status_code == 400
    assert_security_headers(refused, "csrf")

    from app.services import key_listing

    def boom(*args, **kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(key_listing, "list_keys_for_user", boom)
    crashed = client.get("/keys")
    assert crashed.status_code == 500 and "Traceback" not in crashed.get_data(as_text=True)
    assert_security_headers(crashed, "500")


def test_headers_when_signed_out_and_in_header_mode(build_app, client):
    assert_security_headers(client.get("/keys"), "redirect to sign-in")
    assert_security_headers(client.get("/auth/sign-in"), "sign-in")
    app = build_app(schema=True, AUTH_MODE="header")
    response = app.test_client().get("/keys")
    assert response.status_code == 401
    assert_security_headers(response, "401")


def _cache_directives(response) -> set[str]:
    value = response.headers.get("Cache-Control", "")
    return {d.strip().split("=")[0] for d in value.split(",") if d.strip()}


@pytest.mark.parametrize("hx", [False, True], ids=["page", "fragment"])
def test_every_signed_in_response_is_private(app, client, admin_with_key, csrf_token, hx):
    """Whatever a signed-in user gets shows their data (their email at least): no shared cache
    may keep it. Views that already forbid storing it anywhere (no-store) keep that."""
    admin, key = admin_with_key
    headers = {"HX-Request": "true"} if hx else {}
    checked = set()
    for rule in rules(app, "GET"):
        if rule.endpoint in NO_USER_ENDPOINTS:
            continue  # health checks look nobody up and show nobody's data
        response = client.get(url(rule, key_id=key.id, user_id=admin.id), headers=headers)
        directives = _cache_directives(response)
        assert "public" not in directives, rule.rule
        assert "private" in directives or "no-store" in directives, rule.rule
        checked.add(rule.endpoint)
    assert {"keys.index", "usage.index", "admin.usage", "usage.export_csv"} <= checked
    for path in ("/keys", "/usage", f"/keys/{key.id}/revoke"):
        assert "private" in _cache_directives(client.get(path, headers=headers)), path
    revoked = client.post(
        f"/keys/{key.id}/revoke", data={"csrf_token": csrf_token()}, headers=headers
    )
    assert "private" in _cache_directives(revoked)
    assert "no-store" in _cache_directives(client.get("/usage/export.json"))
    assert "no-store" in _cache_directives(client.get("/admin/audit"))


def test_static_files_and_signed_out_pages_stay_shareable(client):
    assert "private" not in _cache_directives(client.get("/auth/sign-in"))
    static = client.get("/static/css/portal.css")
    assert "private" not in _cache_directives(static)
    static.close()


def test_hsts_only_in_production(client, monkeypatch, tmp_path, sim_server, build_app):
    assert "Strict-Transport-Security" not in client.get("/auth/sign-in").headers
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "a-production-secret-for-tests")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/prod.sqlite")
    monkeypatch.setenv("LITELLM_BASE_URL", sim_server.base_url)
    monkeypatch.setenv("LITELLM_MASTER_KEY", "sk-sim-master-0123456789")
    monkeypatch.setenv("TRUSTED_PROXY_IPS", "127.0.0.1")
    monkeypatch.setenv("HTTP_CACHE_URL", "memory")
    production = build_app(ProductionConfig(), schema=True).test_client()
    for response in (
        production.get("/keys"),  # 401: no identity header
        production.get("/keys", headers={"X-Forwarded-Email": "alice@example.com"}),
        production.get("/static/css/portal.css"),
    ):
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
        response.close()


def test_session_cookie_is_httponly_and_lax(client, sign_in, make_user):
    make_user("alice@example.com")
    page = client.get("/auth/sign-in")
    cookie = page.headers.get("Set-Cookie", "")
    assert "session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_session_cookie_is_secure_in_production(monkeypatch, tmp_path, sim_server, build_app):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "a-production-secret-for-tests")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/prod.sqlite")
    monkeypatch.setenv("LITELLM_BASE_URL", sim_server.base_url)
    monkeypatch.setenv("LITELLM_MASTER_KEY", "sk-sim-master-0123456789")
    monkeypatch.setenv("TRUSTED_PROXY_IPS", "127.0.0.1")
    monkeypatch.setenv("HTTP_CACHE_URL", "memory")
    app = build_app(ProductionConfig(), schema=True)
    assert app.config["AUTH_MODE"] == "header"
    client = app.test_client()
    response = client.get("/keys", headers={"X-Forwarded-Email": "alice@example.com"})
    assert response.status_code == 200
    cookie = response.headers.get("Set-Cookie", "")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert_security_headers(response, "production")


@pytest.mark.parametrize("hx", [False, True], ids=["page", "htmx"])
def test_key_create_response_is_not_stored(client, sign_in, make_user, csrf_token, hx):
    make_user("alice@example.com")
    sign_in("alice@example.com")
    page = client.get("/keys").get_data(as_text=True)
    token = re.search(r'name="idempotency_token" value="([^"]+)"', page).group(1)
    response = client.post(
        "/keys",
        data={"csrf_token": csrf_token(), "idempotency_token": token, "name": "laptop"},
        headers={"HX-Request": "true"} if hx else {},
    )
    assert response.status_code == 201 and 'id="new-key-secret"' in response.get_data(as_text=True)
    assert "no-store" in response.headers["Cache-Control"]
    assert_security_headers(response, "create")


# --- templates -------------------------------------------------------------------------------


def _templates() -> list[pathlib.Path]:
    found = sorted(TEMPLATES.rglob("*.html"))
    assert len(found) > 15
    return found


def test_templates_have_no_inline_script_style_or_handlers():
    problems = []
    for path in _templates():
        text = re.sub(r"{#.*?#}", "", path.read_text(), flags=re.DOTALL)  # Jinja comments
        name = path.relative_to(TEMPLATES)
        for tag in re.findall(r"<script\b[^>]*>", text, re.IGNORECASE):
            if "src=" not in tag:
                problems.append(f"{name}: inline {tag}")
        if re.search(r"<style\b", text, re.IGNORECASE):
            problems.append(f"{name}: <style> element")
        if re.search(r"\sstyle\s*=", text, re.IGNORECASE):
            problems.append(f"{name}: style= attribute")
        for handler in re.findall(r"\s(on[a-z]+)\s*=", text, re.IGNORECASE):
            problems.append(f"{name}: {handler}= handler")
        if re.search(r"javascript:", text, re.IGNORECASE):
            problems.append(f"{name}: javascript: URL")
        if re.search(r"\shx-on", text, re.IGNORECASE):
            problems.append(f"{name}: hx-on (evaluated inline script)")
    assert not problems, problems


def test_htmx_config_keeps_htmx_within_the_policy():
    base = (TEMPLATES / "base.html").read_text()
    config = re.search(r"name=\"htmx-config\" content='([^']+)'", base).group(1)
    assert '"includeIndicatorStyles": false' in config
    assert '"allowEval": false' in config and '"allowScriptTags": false' in config


# Every |safe and Markup in the code base, with why it cannot carry outside data.
MARKUP_ALLOWED = ("emails.py", "usage/report_fragment.py")
SAFE_ALLOWED = {
    # The macro's ``extra`` attributes are literals written in this same template
    # (maxlength/autocomplete/inputmode); no caller passes user or LiteLLM data.
    ("keys/_create_form.html", "{{ extra|safe }}"),
}


def test_every_safe_filter_and_markup_is_justified():
    found = set()
    for path in _templates():
        for match in re.findall(r"{{[^}]*\|\s*safe[^}]*}}", path.read_text()):
            found.add((str(path.relative_to(TEMPLATES)), match))
    assert found == SAFE_ALLOWED
    form = (TEMPLATES / "keys/_create_form.html").read_text()
    values = re.findall(r"\bextra\s*=\s*([^,)]*)", form)
    assert len(values) >= 4 and values[0] == '""'  # the macro's default, then the calls
    assert all(re.fullmatch(r"'[^'{}]*'", v) for v in values[1:]), values
    markup = []
    for path in APP_DIR.rglob("*.py"):
        text = path.read_text()
        if re.search(r"\bMarkup\(|markupsafe|\|safe|autoescape\s*=\s*False", text):
            markup.append(str(path.relative_to(APP_DIR)))
    assert sorted(markup) == sorted(MARKUP_ALLOWED)
    # wrap_email escapes the address first and adds only <wbr> after its @ and dots.
    from app.emails import wrap_email

    assert wrap_email('<b onclick="x">a@b.c') == "&lt;b onclick=&#34;x&#34;&gt;a@<wbr>b.<wbr>c"
    emails = (APP_DIR / "emails.py").read_text()
    assert re.findall(r"\bMarkup\((.+)\)", emails) == [r're.sub(r"([@.])", r"\1<wbr>", text)']
    # The report fragment is the output of an autoescaped template (as an include's would be),
    # kept in a memo and marked safe only so it is not escaped twice.
    fragment = (APP_DIR / "usage/report_fragment.py").read_text()
    assert re.findall(r"\bMarkup\(([\w.()]+)\)", fragment) == ["found.decode()", "html"]
    rendered = 'template.render({**context.get_all(), "chart": chart})'
    assert re.findall(r"\bhtml = (.+)", fragment) == [rendered]
    assert re.findall(r"\bencoded = (.+)", fragment) == ["html.encode()"]
    assert re.findall(r"memo\.put\((.+)\)", fragment) == ["name, encoded, len(encoded)"]
    assert REPORT_TEMPLATE.endswith(".html")  # Flask autoescapes .html templates
