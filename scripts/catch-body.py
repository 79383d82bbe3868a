"""Catch one HTTP request's body: `python3 scripts/catch-body.py FILE`.

Listens on a free loopback port (written to FILE.port once listening), reads the first request that arrives
(a connection opened ahead of it and closed unused carries nothing), writes its body to FILE and answers 503.
The benchmark scripts point the client at it to learn its request for given settings, so the raw reader can
send the same one (`raw_reader --body FILE`).
"""

import socket
import sys

out = sys.argv[1]
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
s.settimeout(30)
with open(out + ".port", "w") as f:
    f.write(str(s.getsockname()[1]))
while True:
    c, _ = s.accept()
    c.settimeout(30)
    data = b""
    while b"\r\n\r\n" not in data and (more := c.recv(65536)):
        data += more
    if b"\r\n\r\n" in data:
        break
head, body = data.split(b"\r\n\r\n", 1)
n = next(int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:"))
while len(body) < n:
    body += c.recv(65536)
with open(out, "wb") as f:
    f.write(body)
c.sendall(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
c.close()
