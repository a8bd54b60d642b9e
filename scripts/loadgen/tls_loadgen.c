// TLS load generator for scripts/bench.ts (workloads tls16, tlsconnect): CONNS threads, each on a blocking
// OpenSSL connection.
//   echo:    one TLS connection per thread; a 64-byte line, wait for it back, again (persistent echo)
//   connect: per operation a new TCP connection and a full TLS 1.3 handshake (no session resumption), one line echoed,
//            then close (connect per request)
// Usage: tls_loadgen echo|connect HOST PORT CONNS SECONDS. Prints {"ops":N,"opsPerSecond":R,"errors":E}.
// Build: cc -O2 -o tls_loadgen tls_loadgen.c -lssl -lcrypto -lpthread
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static SSL_CTX *ctx;
static struct sockaddr_in target;
static int connect_mode;
static double deadline;
static atomic_ulong ops, errors;
static const char LINE[] = "0123456789012345678901234567890123456789012345678901234567890123\n";

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static SSL *open_tls(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return NULL;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&target, sizeof target) < 0) {
    close(fd);
    return NULL;
  }
  SSL *ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  if (SSL_connect(ssl) != 1) {
    SSL_free(ssl);
    close(fd);
    return NULL;
  }
  return ssl;
}

static void close_tls(SSL *ssl) {
  int fd = SSL_get_fd(ssl);
  SSL_free(ssl);
  close(fd);
}

// One line out and the same line back; 0 on success.
static int exchange(SSL *ssl) {
  if (SSL_write(ssl, LINE, sizeof LINE - 1) != (int)(sizeof LINE - 1)) return -1;
  char buf[256];
  int got = 0;
  while (got < (int)(sizeof LINE - 1)) {
    int r = SSL_read(ssl, buf + got, sizeof buf - got);
    if (r <= 0) return -1;
    got += r;
  }
  return 0;
}

static void *worker(void *unused) {
  (void)unused;
  SSL *ssl = NULL;
  while (now() < deadline) {
    if (ssl == NULL) ssl = open_tls();
    if (ssl == NULL || exchange(ssl) != 0) {
      atomic_fetch_add(&errors, 1);
      if (ssl) close_tls(ssl);
      ssl = NULL;
      usleep(1000);
      continue;
    }
    atomic_fetch_add(&ops, 1);
    if (connect_mode) {
      close_tls(ssl);
      ssl = NULL;
    }
  }
  if (ssl) close_tls(ssl);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: tls_loadgen echo|connect HOST PORT CONNS SECONDS\n");
    return 2;
  }
  connect_mode = strcmp(argv[1], "connect") == 0;
  target.sin_family = AF_INET;
  target.sin_port = htons(atoi(argv[3]));
  inet_pton(AF_INET, argv[2], &target.sin_addr);
  int conns = atoi(argv[4]);
  double seconds = atof(argv[5]);
  ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  double started = now();
  deadline = started + seconds;
  pthread_t threads[1024];
  if (conns > 1024) conns = 1024;
  for (int i = 0; i < conns; i++) pthread_create(&threads[i], NULL, worker, NULL);
  for (int i = 0; i < conns; i++) pthread_join(threads[i], NULL);
  double elapsed = now() - started;
  printf("{\"ops\":%lu,\"opsPerSecond\":%.0f,\"errors\":%lu}\n", atomic_load(&ops), atomic_load(&ops) / elapsed,
         atomic_load(&errors));
  return 0;
}
