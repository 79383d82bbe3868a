#!/usr/bin/env python3
"""Characterise an OpenAI-compatible server's HTTP habits with a raw socket (no HTTP library in between).

For each case it sends one HTTP/1.1 request on a fresh TCP connection and prints:
  - the exact response head (status line and headers, as bytes on the wire);
  - the framing (chunked, Content-Length or close-delimited);
  - the SSE events (first ones and last ones) or the JSON body;
  - what the server does with the connection after the response: closes it (and how many ms after the
    last byte of the body), or keeps it open (then a second request is sent on it to prove reuse).

Cases: chat streamed; chat non-streamed; /v1/completions streamed with include_usage; chat streamed with
include_usage; chat with an unknown field in the body.

Usage: habits.py --port PORT [--host 127.0.0.1] [--model tiny] [--max-tokens 8] [--wait 3]
Only for servers on this machine (loopback).
"""
import argparse
import json
import socket
import time


def build_request(host: str, port: int, path: str, body: dict) -> bytes:
    data = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Content-Type: application/json\r\n"
        "Accept: */*\r\n"
        "Authorization: Bearer x\r\n"
        f"Content-Length: {len(data)}\r\n"
        "\r\n"
    )
    return head.encode() + data


class Conn:
    def __init__(self, host: str, port: int):
        self.sock = socket.create_connection((host, port), timeout=60)
        self.buf = b""
        self.closed_at = None
        self.t_last_recv = None

    def fill(self, timeout: float | None = 60) -> bool:
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        if not chunk:
            self.closed_at = time.monotonic()
            raise EOFError
        self.buf += chunk
        self.t_last_recv = time.monotonic()
        return True

    def read_until(self, sep: bytes) -> bytes:
        while sep not in self.buf:
            self.fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_n(self, n: int) -> bytes:
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self):
        """Returns (head bytes, headers dict lowercased, body bytes, framing, chunk sizes, t_last_byte)."""
        head = self.read_until(b"\r\n\r\n")
        headers = {}
        for line in head.decode("latin-1").split("\r\n")[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        sizes = []
        if headers.get("transfer-encoding", "").lower() == "chunked":
            framing = "chunked"
            body = b""
            while True:
                line = self.read_until(b"\r\n")
                size = int(line.split(b";")[0].strip(), 16)
                sizes.append(size)
                if size == 0:
                    # trailers (none expected) end with an empty line
                    while self.read_until(b"\r\n") != b"\r\n":
                        pass
                    break
                body += self.read_n(size)
                self.read_n(2)
        elif "content-length" in headers:
            framing = f"content-length {headers['content-length']}"
            body = self.read_n(int(headers["content-length"]))
        else:
            framing = "close-delimited"
            try:
                while True:
                    self.fill()
            except EOFError:
                pass
            body, self.buf = self.buf, b""
        return head, headers, body, framing, sizes, time.monotonic()

    def watch_close(self, wait: float) -> float | None:
        """ms from the arrival of the response's last bytes until the peer closes, or None if still open
        after `wait` seconds."""
        t0 = self.t_last_recv or time.monotonic()
        deadline = time.monotonic() + wait
        try:
            while time.monotonic() < deadline:
                self.fill(timeout=max(0.001, deadline - time.monotonic()))
        except EOFError:
            return (self.closed_at - t0) * 1000
        except (ConnectionResetError, BrokenPipeError):
            return (time.monotonic() - t0) * 1000
        return None


def sse_events(body: bytes) -> list[str]:
    return [line[len("data:"):].strip() for line in body.decode("utf-8", "replace").split("\n")
            if line.startswith("data:")]


def short(ev: str, n: int = 400) -> str:
    return ev if len(ev) <= n else ev[:n] + f"... ({len(ev)} chars)"


def run_case(a, title: str, path: str, body: dict) -> None:
    print("=" * 100)
    print(f"CASE: {title}\nPOST {path} {json.dumps(body)}")
    c = Conn(a.host, a.port)
    t_send = time.monotonic()
    c.sock.sendall(build_request(a.host, a.port, path, body))
    head, headers, data, framing, sizes, t_last = c.read_response()
    print(f"--- response head ({(t_last - t_send) * 1000:.1f} ms to last body byte):")
    print(head.decode("latin-1").rstrip("\r\n").replace("\r\n", "\\r\\n\n"))
    print(f"--- framing: {framing}" + (f"; {len(sizes)} chunks (sizes of first 8: {sizes[:8]}, last: {sizes[-1]})"
                                      if sizes else ""))
    if headers.get("content-type", "").startswith("text/event-stream"):
        evs = sse_events(data)
        print(f"--- {len(evs)} SSE data events; raw first 300 bytes of body: {data[:300]!r}")
        for i, ev in enumerate(evs):
            if i < 3 or i >= len(evs) - 3:
                print(f"  [{i}] {short(ev)}")
            elif i == 3:
                print("  ...")
        parsed = []
        for ev in evs:
            try:
                parsed.append(json.loads(ev))
            except ValueError:
                parsed.append(ev)
        if parsed and isinstance(parsed[0], dict) and parsed[0].get("choices"):
            d = parsed[0]["choices"][0].get("delta")
            if d is not None:
                print(f"--- first chunk delta: {json.dumps(d)} (role chunk with content null: "
                      f"{'role' in d and 'content' in d and d['content'] is None})")
        with_usage = [i for i, p in enumerate(parsed) if isinstance(p, dict) and p.get("usage")]
        for i in with_usage:
            p = parsed[i]
            print(f"--- usage in event [{i}] of {len(evs)}: usage={json.dumps(p['usage'])}, "
                  f"choices={'[]' if p.get('choices') == [] else len(p.get('choices') or [])} "
                  f"(finish_reason in it: {[ch.get('finish_reason') for ch in p.get('choices') or []]})")
        if not with_usage:
            print("--- no event carries usage")
        timings = [i for i, p in enumerate(parsed) if isinstance(p, dict) and p.get("timings")]
        if timings:
            print(f"--- timings in event(s) {timings}: {json.dumps(parsed[timings[-1]]['timings'])}")
    else:
        print(f"--- body ({len(data)} bytes): {short(data.decode('utf-8', 'replace'), 1200)}")
    closed = c.watch_close(a.wait)
    if closed is not None:
        print(f"--- server CLOSED the connection {closed:.2f} ms after the response's last bytes arrived "
              f"(connection header said: {headers.get('connection', '(none)')!r}, "
              f"keep-alive header: {headers.get('keep-alive', '(none)')!r})")
    else:
        print(f"--- connection still open {a.wait} s after the response "
              f"(connection header: {headers.get('connection', '(none)')!r}); reusing it for a second request:")
        try:
            c.sock.sendall(build_request(a.host, a.port, path, body))
            head2, _, _, _, _, _ = c.read_response()
            status2 = head2.split(b"\r\n")[0].decode()
            print(f"    second response on the same connection: {status2}")
            closed2 = c.watch_close(a.wait)
            print("    then: " + (f"closed after {closed2:.1f} ms" if closed2 is not None else "still open"))
        except (EOFError, OSError) as e:
            print(f"    second request failed: {e!r}")
    c.sock.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--max-tokens", type=int, default=8)
    ap.add_argument("--wait", type=float, default=3.0, help="seconds to watch for a close after each response")
    a = ap.parse_args()
    msgs = [{"role": "user", "content": "Say hello."}]
    base = {"model": a.model, "max_tokens": a.max_tokens}
    run_case(a, "chat, streamed", "/v1/chat/completions", {**base, "messages": msgs, "stream": True})
    run_case(a, "chat, not streamed", "/v1/chat/completions", {**base, "messages": msgs})
    run_case(a, "completions, streamed, include_usage", "/v1/completions",
             {**base, "prompt": "Say hello.", "stream": True, "stream_options": {"include_usage": True}})
    run_case(a, "chat, streamed, include_usage", "/v1/chat/completions",
             {**base, "messages": msgs, "stream": True, "stream_options": {"include_usage": True}})
    run_case(a, "chat, not streamed, unknown field in the body", "/v1/chat/completions",
             {**base, "messages": msgs, "no_such_field_xyz": {"a": 1}})
    run_case(a, "chat, streamed, ignore_eos", "/v1/chat/completions",
             {**base, "messages": msgs, "stream": True, "ignore_eos": True})


if __name__ == "__main__":
    main()
