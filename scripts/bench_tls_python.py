"""CPython's socketserver with ssl, for scripts/bench_tls.ts: ThreadingTCPServer (or TCPServer with `sync`) whose
get_request() wraps each connection without handshaking, so that the handshake runs in the handler's thread (wrapping
the listening socket would run it inside accept()). Prints `listening on 127.0.0.1:PORT`.

python3 scripts/bench_tls_python.py threading|sync CERT KEY
"""
import socketserver
import ssl
import sys

mode, cert, key = sys.argv[1:4]
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)


class LineEcho(socketserver.StreamRequestHandler):
    def setup(self):
        self.request.do_handshake()
        super().setup()

    def handle(self):
        for line in iter(lambda: self.rfile.readline(65536), b""):
            self.wfile.write(line)


Base = socketserver.ThreadingTCPServer if mode == "threading" else socketserver.TCPServer


class Server(Base):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 511

    def get_request(self):
        sock, address = super().get_request()
        return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address


with Server(("127.0.0.1", 0), LineEcho) as server:
    print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()
