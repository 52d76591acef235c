"""Request body limits: small for forms, 25 MB for the GitHub webhook, ABACUS_MAX_UPLOAD_MB
for the CSV upload. The webhook is driven over a real socket against a live server, so the
tests see whether the server reads a huge body or refuses it first."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from tests.helpers import csrf_token, sign_in
from tests.test_web import text_of

SECRET = "s3cret-webhook"
MB = 1024 * 1024
HTMX = {"HX-Request": "true"}


class CountingInput:
    """Counts the request body bytes the app reads from the server."""

    def __init__(self, stream, counter: list[int]):
        self.stream, self.counter = stream, counter

    def read(self, *args):
        data = self.stream.read(*args)
        self.counter[0] += len(data)
        return data

    def readline(self, *args):
        data = self.stream.readline(*args)
        self.counter[0] += len(data)
        return data


@pytest.fixture
def live(make_app) -> Iterator[tuple[int, list[int]]]:
    """A live server of an app with the webhook secret set; (port, body bytes read)."""
    app = make_app(GITHUB_WEBHOOK_SECRET=SECRET)
    read = [0]
    inner = app.wsgi_app

    def counting(environ, start_response):
        environ["wsgi.input"] = CountingInput(environ["wsgi.input"], read)
        return inner(environ, start_response)

    app.wsgi_app = counting
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port, read
    finally:
        server.shutdown()
        thread.join(5)


def _status(sock: socket.socket) -> str:
    """The response's status line (the first line)."""
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n", 1)[0].decode()


def _request_head(port: int, extra: str) -> bytes:
    return (f"POST /webhooks/github HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/json\r\nX-GitHub-Event: push\r\n"
            f"X-GitHub-Delivery: huge-1\r\n{extra}\r\n").encode()


def test_a_huge_unsigned_webhook_post_is_refused_at_once_without_reading_it(live):
    port, read = live
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        # 300 MB announced, a few bytes sent: a server that reads the body waits for the rest.
        sock.sendall(_request_head(port, f"Content-Length: {300 * 1000 * 1000}\r\n") + b'{"a"')
        started = time.monotonic()
        status = _status(sock)
    assert status.split()[1] == "413", status
    assert time.monotonic() - started < 2
    assert read[0] == 0


def test_a_chunked_webhook_body_is_cut_off_once_past_25_mb(live):
    port, read = live
    piece = b"x" * MB
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    sent = [0]

    def send(sock: socket.socket) -> None:
        try:
            sock.sendall(_request_head(port, "Transfer-Encoding: chunked\r\n"))
            for _ in range(60):  # 60 MB, far more than the limit
                sock.sendall(chunk)
                sent[0] += 1
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server hung up after refusing

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sender = threading.Thread(target=send, args=(sock,), daemon=True)
        sender.start()
        status = _status(sock)
        sock.shutdown(socket.SHUT_RDWR)
        sender.join(10)
    assert status.split()[1] == "413", status
    assert 25 * MB <= read[0] < 30 * MB


def test_ordinary_forms_are_limited_to_a_few_mb(client):
    sign_in(client, "admin@example.com")
    tok = csrf_token(client.get("/status").get_data(as_text=True))
    response = client.post("/admin/sync", data={"csrf_token": tok, "source": "cursor",
                                                "padding": "x" * 3 * MB},
                           headers=HTMX)
    assert response.status_code == 413
    assert "larger than 2 MB" in text_of(response)


def _upload(client, content: bytes, name: str = "big.csv"):
    tok = csrf_token(client.get("/admin/upload").get_data(as_text=True))
    return client.post("/admin/upload", data={"csrf_token": tok,
                                              "file": (io.BytesIO(content), name)},
                       content_type="multipart/form-data", headers=HTMX)


def _csv_of(size: int) -> bytes:
    """A valid Cursor team export of about `size` bytes."""
    head = b"Date,User,Kind,Model,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read," \
           b"Output Tokens,Total Tokens,Cost\n"
    line = b"2026-04-08T10:00:00Z,a@example.com,Included,sonnet-4.5,0,10,0,5,15,$0.01\n"
    return head + line * (size // len(line) + 1)


def test_the_csv_upload_takes_files_up_to_abacus_max_upload_mb(app, make_app, client):
    sign_in(client, "admin@example.com")
    assert _upload(client, _csv_of(3 * MB)).status_code == 202  # over the form limit: fine here

    small = make_app(ABACUS_MAX_UPLOAD_MB="1").test_client()
    sign_in(small, "admin@example.com")
    response = _upload(small, _csv_of(2 * MB))
    assert response.status_code == 413
    text = text_of(response)
    assert "The file is larger than 1 MB" in text and "ABACUS_MAX_UPLOAD_MB" in text
    assert 'id="upload-form"' in response.get_data(as_text=True)  # the form, to try again


def test_members_cannot_send_big_bodies_to_the_upload_route(client):
    sign_in(client, "alice@example.com")
    tok = csrf_token(client.get("/status").get_data(as_text=True))
    big = io.BytesIO(_csv_of(3 * MB))
    response = client.post("/admin/upload", data={"csrf_token": tok, "file": (big, "a.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 413  # refused before the form is parsed, not after
