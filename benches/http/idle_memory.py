#!/usr/bin/env python3
"""Resident memory per idle keep-alive connection of an HTTP server.

    ulimit -n 20000; benches/http/idle_memory.py SERVER_BINARY [PORT] [CONNECTIONS]

Starts the server (port as its argument and $PORT, one worker from $WORKERS), reads its RSS,
opens CONNECTIONS (default 4000) connections that each make one /plaintext request and then
stay open and idle, reads the RSS again, and prints the difference per connection.
"""
import os
import socket
import subprocess
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main():
    binary = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 19020
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 4000
    env = dict(os.environ, PORT=str(port), WORKERS="1")
    server = subprocess.Popen([binary, str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(0.3)
        before = rss_kib(server.pid)
        conns = []
        for _ in range(count):
            conn = socket.create_connection(("127.0.0.1", port))
            conn.sendall(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
            conns.append(conn)
        for conn in conns:
            got = b""
            while b"Hello, World!" not in got:
                chunk = conn.recv(4096)
                if not chunk:
                    raise RuntimeError("connection closed before its response")
                got += chunk
        time.sleep(0.5)
        after = rss_kib(server.pid)
        print(f"{binary}: {before} KiB idle, {after} KiB with {count} idle keep-alive connections:"
              f" {(after - before) * 1024 / count:,.0f} B per connection")
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
