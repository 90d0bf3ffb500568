#!/usr/bin/env python3
"""Sends BATCHES rounds of 16 pipelined GET requests ($DEPTH, if set) on each of CONNS
connections and reads every response: a fixed amount of work for instruction counting (see
callgrind.sh).

usage: pipeline_client.py PORT CONNS BATCHES PATH
"""
import os
import socket
import sys

port, conns, batches, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
depth = int(os.environ.get("DEPTH", "16"))
request = (
    f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    "Accept: text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,*/*;q=0.7\r\n"
    "Connection: keep-alive\r\n\r\n"
).encode() * depth
socks = []
for _ in range(conns):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    socks.append(s)
for _ in range(batches):
    for s in socks:
        s.sendall(request)
    for s in socks:
        got = b""
        while got.count(b"HTTP/1.1 200") < depth:
            data = s.recv(65536)
            if not data:
                sys.exit("the server closed a connection")
            got += data
