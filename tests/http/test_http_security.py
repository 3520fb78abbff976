"""Security through a real `chronik serve`: binding, tokens (401/403), read-only mode, Host and
Origin checks (DNS rebinding), CORS only when configured, the token file's mode."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

TOKEN = "write-token-0123456789abcdef"
READ_TOKEN = "read-token-0123456789abcdef"
EVENT = {"events": [{"type": "created"}]}


def token_file(tmp_path, name, token, mode=0o600):
    path = tmp_path / name
    path.write_text(token + "\n")
    path.chmod(mode)
    return str(path)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_binding_beyond_loopback_needs_a_token(tmp_path):
    result = subprocess.run([sys.executable, "-m", "chronik.cli", "--ledger", f"sqlite:///{tmp_path / 'l.db'}",
                             "serve", "--host", "0.0.0.0", "--port", "8471"],
                            capture_output=True, text=True, timeout=30,
                            env={k: v for k, v in os.environ.items() if not k.startswith("CHRONIK_HTTP")})
    assert result.returncode == 2
    assert "--host" in result.stderr and "token" in result.stderr


def test_a_token_file_readable_by_others_is_refused(tmp_path):
    loose = token_file(tmp_path, "token", TOKEN, mode=0o644)
    result = subprocess.run([sys.executable, "-m", "chronik.cli", "--ledger", f"sqlite:///{tmp_path / 'l.db'}",
                             "serve", "--token-file", loose], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "--token-file" in result.stderr and "chmod 600" in result.stderr


def test_tokens_401_without_403_read_only_token_on_append(start_server, tmp_path):
    server = start_server("--token-file", token_file(tmp_path, "w", TOKEN),
                          "--read-only-token-file", token_file(tmp_path, "r", READ_TOKEN))
    with server.client() as client:
        missing = client.get("/v1/head")
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "Unauthorized"
        assert missing.headers["www-authenticate"].startswith("Bearer")
        wrong = client.get("/v1/head", headers=bearer(TOKEN[:-1] + "X"))
        assert wrong.status_code == 401
        for path in ("/", "/metrics", "/openapi.json", "/v1/subscribe"):
            assert client.get(path).status_code == 401, path
        assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200
        written = client.post("/v1/streams/order:1/events", json=EVENT, headers=bearer(TOKEN))
        assert written.status_code == 201
        refused = client.post("/v1/streams/order:1/events", json=EVENT, headers=bearer(READ_TOKEN))
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "Forbidden"
        assert client.post("/v1/events", json={"streams": []}, headers=bearer(READ_TOKEN)).status_code == 403
        read = client.get("/v1/streams/order:1/events", headers=bearer(READ_TOKEN))
        assert read.status_code == 200 and len(read.json()["events"]) == 1
        assert client.post("/v1/verify", headers=bearer(READ_TOKEN)).json()["ok"] is True  # verify only reads


def test_the_token_from_the_environment_and_the_login_cookie(start_server):
    server = start_server(env={"CHRONIK_HTTP_TOKEN": TOKEN})
    with server.client() as client:
        assert client.get("/").status_code == 401
        assert client.get("/login").status_code == 200
        bad = client.post("/login", content=b"token=wrong", headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert bad.status_code == 401
        good = client.post("/login", content=f"token={TOKEN}".encode(),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert good.status_code == 303
        cookie = good.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert client.get("/").status_code == 200  # the client keeps the cookie


def test_read_only_server_refuses_appends(start_server, tmp_path):
    writable = start_server()
    with writable.client() as client:
        assert client.post("/v1/streams/order:1/events", json=EVENT).status_code == 201
    writable.stop()
    server = start_server("--read-only", ledger=writable.ledger_url)
    with server.client() as client:
        refused = client.post("/v1/streams/order:1/events", json=EVENT)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "ReadOnly"
        assert client.get("/v1/head").json()["position"] == 1
        assert client.post("/v1/verify").json()["ok"] is True


def test_a_foreign_host_header_is_refused(start_server):
    server = start_server()
    with server.client() as client:
        for host in ("evil.example", "evil.example:8470", "127.0.0.1.nip.io", ""):
            for path in ("/v1/head", "/", "/static/chronik.css", "/healthz"):
                response = client.get(path, headers={"Host": host})
                assert response.status_code == 403 and response.json()["error"]["code"] == "BadHost", (host, path)
        assert client.get("/v1/head", headers={"Host": f"localhost:{server.port}"}).status_code == 200


def test_a_foreign_origin_is_refused_and_no_cors_by_default(start_server):
    server = start_server()
    with server.client() as client:
        for origin in ("http://evil.example", "null", f"http://127.0.0.1:{server.port + 1}"):
            response = client.post("/v1/streams/order:1/events", json=EVENT, headers={"Origin": origin})
            assert response.status_code == 403 and response.json()["error"]["code"] == "BadOrigin"
        assert client.get("/v1/head").json()["position"] == 0
        own = client.post("/v1/streams/order:1/events", json=EVENT,
                          headers={"Origin": f"http://127.0.0.1:{server.port}"})
        assert own.status_code == 201
        assert "access-control-allow-origin" not in own.headers


def test_cors_only_for_configured_origins(start_server):
    server = start_server("--cors-origin", "https://ops.example")
    with server.client() as client:
        response = client.get("/v1/head", headers={"Origin": "https://ops.example"})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "https://ops.example"
        preflight = client.options("/v1/head", headers={"Origin": "https://ops.example",
                                                        "Access-Control-Request-Method": "POST"})
        assert preflight.status_code == 204 and "POST" in preflight.headers["access-control-allow-methods"]
        other = client.get("/v1/head", headers={"Origin": "https://other.example"})
        assert other.status_code == 403


def test_ui_pages_carry_a_strict_content_security_policy(start_server):
    server = start_server()
    page = httpx.get(server.base_url + "/")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
