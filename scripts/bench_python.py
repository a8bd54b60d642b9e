"""CPython's socketserver under the same workloads as scripts/bench.ts.

python3 scripts/bench_python.py MODE TRANSPORT HANDLER ADDRESS
MODE sync|threading|forking, TRANSPORT tcp|udp|unix|tls, HANDLER echo|cpu, ADDRESS a port or a unix path.
`tls` is TCP with the `ssl` module and the test certificate of tests/fixtures/tls: get_request() wraps each connection
without handshaking, so that the handshake runs in the handler's thread or child (wrapping the listening socket would
run it inside accept(), one at a time).
"""
import hashlib
import os
import signal
import socketserver
import ssl
import sys

mode, transport, handler, where = (sys.argv[1:] + ["sync", "tcp", "echo", "0"][len(sys.argv) - 1:])[:4]
WORK = bytes((i * 2654435761 >> 24) & 0xFF for i in range(1 << 20))


class LineEcho(socketserver.StreamRequestHandler):
    def handle(self):
        for line in iter(lambda: self.rfile.readline(65536), b""):
            self.wfile.write(line)


class CpuHash(socketserver.StreamRequestHandler):
    # hashlib releases the GIL, so this is CPython's best case for threads.
    def handle(self):
        for line in iter(lambda: self.rfile.readline(65536), b""):
            digest = hashlib.sha256(WORK + bytes([len(line) & 0xFF])).hexdigest()[:8]
            self.wfile.write(digest.ljust(len(line) - 1).encode() + b"\n")


class DatagramEcho(socketserver.DatagramRequestHandler):
    def handle(self):
        self.wfile.write(self.rfile.read())


classes = {
    ("sync", "tcp"): socketserver.TCPServer,
    ("threading", "tcp"): socketserver.ThreadingTCPServer,
    ("forking", "tcp"): socketserver.ForkingTCPServer,
    ("sync", "udp"): socketserver.UDPServer,
    ("threading", "udp"): socketserver.ThreadingUDPServer,
    ("forking", "udp"): socketserver.ForkingUDPServer,
    ("sync", "unix"): socketserver.UnixStreamServer,
    ("threading", "unix"): socketserver.ThreadingUnixStreamServer,
    # ForkingUnixStreamServer arrived in CPython 3.12; the same combination by hand for older ones.
    ("forking", "unix"): getattr(socketserver, "ForkingUnixStreamServer", None)
    or type("ForkingUnixStreamServer", (socketserver.ForkingMixIn, socketserver.UnixStreamServer), {}),
}
if transport == "tls":
    fixtures = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "tls")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(os.path.join(fixtures, "server.pem"), os.path.join(fixtures, "server.key"))

    class HandshakingLineEcho(LineEcho):
        def setup(self):
            self.request.do_handshake()
            super().setup()

    def get_request(self):
        sock, address = self.socket.accept()
        return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    Server = type("TLS" + classes[(mode, "tcp")].__name__, (classes[(mode, "tcp")],), {"get_request": get_request})
else:
    Server = classes[(mode, transport)]
Server.allow_reuse_address = True
Server.request_queue_size = 4096
Server.daemon_threads = True
Server.max_packet_size = 65535
Handler = (
    DatagramEcho
    if transport == "udp"
    else HandshakingLineEcho
    if transport == "tls"
    else CpuHash
    if handler == "cpu"
    else LineEcho
)
address = where if transport == "unix" else ("127.0.0.1", int(where))
if transport == "unix" and os.path.exists(where):
    os.unlink(where)
server = Server(address, Handler)
server.handle_error = lambda request, client_address: None
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
host = server.server_address if transport == "unix" else "%s:%d" % server.server_address[:2]
print("listening on", host, flush=True)
try:
    server.serve_forever(poll_interval=0.05)
finally:
    server.server_close()
    if transport == "unix" and os.path.exists(where):
        os.unlink(where)
