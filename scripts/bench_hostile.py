#!/usr/bin/env python3
"""The attackers and the probing client of scripts/bench_hostile.ts.

  bench_hostile.py probe HOST PORT SECONDS
      One well-behaved client: a persistent connection sending a 64-byte line and timing its echo, 200 times a second;
      every 25th request also opens a new connection and times connect + first echo. Prints one JSON line:
      {"n", "p50", "p99", "max", "newP50", "newMax", "timeouts"} (milliseconds, null without samples; a request
      without an answer within 5 s counts as a timeout and as 5000 ms).
  bench_hostile.py attack KIND HOST PORT SECONDS
      Runs one attack until SECONDS pass (or SIGTERM), from source addresses 127.0.0.2-127.0.0.9 so that a
      per-address cap meant for the attackers does not shut the probe (from 127.0.0.1) out:
        lineflood  8 connections each trickling one endless line a byte at a time (1 byte per ms each); a
                   connection the server closes (line too long, line deadline) is replaced
        slowloris  2,000 connections, each sending one byte of a line that never ends every 10 s
        resets     150 connections a second, each reset at once (SO_LINGER 0)
        connclose  1,000 connect-and-close (FIN) as fast as possible, then nothing
      Prints `ready` once the attack is at full strength, and one JSON line of counts at the end.
"""
import json
import select
import signal
import socket
import struct
import sys
import time

SOURCES = [f"127.0.0.{i}" for i in range(2, 10)]
LINE = b"x" * 63 + b"\n"
STOPPING = []


def running(end):
    """True until `end` (a monotonic time) or SIGTERM."""
    return not STOPPING and time.monotonic() < end


def percentile(values, fraction):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def recv_line(sock, deadline):
    data = b""
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def open_probe(host, port):
    sock = socket.create_connection((host, port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def probe(host, port, seconds):
    samples, fresh, timeouts = [], [], 0
    sock = None
    end = time.monotonic() + seconds
    count = 0
    while running(end):
        count += 1
        started = time.monotonic()
        try:
            if sock is None:
                sock = open_probe(host, port)
            sock.sendall(LINE)
            recv_line(sock, started + 5)
            samples.append((time.monotonic() - started) * 1000)
        except (OSError, TimeoutError, ConnectionError):
            timeouts += 1
            samples.append(5000.0)
            if sock is not None:
                sock.close()
            sock = None
        if count % 25 == 0:
            started = time.monotonic()
            try:
                extra = open_probe(host, port)
                try:
                    extra.sendall(LINE)
                    recv_line(extra, started + 5)
                    fresh.append((time.monotonic() - started) * 1000)
                finally:
                    extra.close()
            except (OSError, TimeoutError, ConnectionError):
                timeouts += 1
                fresh.append(5000.0)
        time.sleep(0.005)
    if sock is not None:
        sock.close()
    figures = {
        "n": len(samples), "p50": percentile(samples, 0.5), "p99": percentile(samples, 0.99),
        "max": max(samples, default=None), "newP50": percentile(fresh, 0.5), "newMax": max(fresh, default=None),
        "timeouts": timeouts,
    }
    # JSON has no NaN: a figure without samples is null.
    print(json.dumps({k: (None if v != v else v) for k, v in figures.items()}), flush=True)


def connect_from(index, host, port, blocking=True):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((SOURCES[index % len(SOURCES)], 0))
    if blocking:
        sock.settimeout(5)
        sock.connect((host, port))
    else:
        sock.setblocking(False)
        sock.connect_ex((host, port))
    return sock


def lineflood(host, port, end, ready):
    socks = [None] * 8
    sent = replaced = 0
    announced = False
    while running(end):
        for i in range(len(socks)):
            try:
                if socks[i] is None:
                    socks[i] = connect_from(i, host, port)
                    socks[i].setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    socks[i].setblocking(False)
                socks[i].send(b"a")
                sent += 1
            except BlockingIOError:
                pass
            except OSError:
                if socks[i] is not None:
                    socks[i].close()
                socks[i] = None
                replaced += 1
        if not announced:
            ready()
            announced = True
        time.sleep(0.001)
    return {"bytes": sent, "replaced": replaced}


def slowloris(host, port, end, ready):
    socks = []
    failed = 0
    for i in range(2000):
        try:
            socks.append(connect_from(i, host, port, blocking=False))
        except OSError:
            failed += 1
        if i % 100 == 99:
            time.sleep(0.01)
    # Wait until the connections are established (writable), then start trickling.
    deadline = time.monotonic() + 10
    poller = select.poll()
    pending = {sock.fileno(): sock for sock in socks}
    for fd in pending:
        poller.register(fd, select.POLLOUT)
    while pending and time.monotonic() < deadline:
        for fd, _ in poller.poll(500):
            poller.unregister(fd)
            del pending[fd]
    ready()
    dropped = 0
    next_byte = time.monotonic()
    while running(end):
        if time.monotonic() >= next_byte:
            for sock in socks:
                try:
                    sock.send(b"s")
                except OSError:
                    dropped += 1
            next_byte += 10
        time.sleep(0.05)
    for sock in socks:
        sock.close()
    return {"connections": len(socks) - len(pending), "failed": failed + len(pending), "sendErrors": dropped}


def resets(host, port, end, ready):
    count = failed = 0
    ready()
    started = time.monotonic()
    while running(end):
        try:
            sock = connect_from(count, host, port)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        except OSError:
            failed += 1
        count += 1
        wait = started + count / 150 - time.monotonic()
        if wait > 0:
            time.sleep(wait)
    return {"resets": count, "failed": failed}


def connclose(host, port, end, ready):
    count = failed = 0
    ready()
    for i in range(1000):
        try:
            connect_from(i, host, port).close()
        except OSError:
            failed += 1
        count += 1
    while running(end):
        time.sleep(0.05)
    return {"closed": count, "failed": failed}


ATTACKS = {"lineflood": lineflood, "slowloris": slowloris, "resets": resets, "connclose": connclose}


def main():
    if sys.argv[1] == "probe":
        probe(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
        return
    signal.signal(signal.SIGTERM, lambda *_: STOPPING.append(True))
    kind, host, port, seconds = sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
    counts = ATTACKS[kind](host, port, time.monotonic() + seconds, lambda: print("ready", flush=True))
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main()
