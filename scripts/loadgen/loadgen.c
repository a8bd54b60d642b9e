// A single-threaded epoll load generator: N connections each send a 64-byte line and wait for it back (ping-pong),
// for D seconds. Prints one JSON line: ops per second and latency percentiles.
// Modes: tcp HOST PORT | unix PATH | udp HOST PORT | connect HOST PORT (connect, one line, close per op) | bulk HOST PORT
// | connectproxy HOST PORT (as connect, each connection's first write a PROXY v1 header and the line, in one send)
// Usage: loadgen MODE ADDR... CONNS SECONDS [LINE_BYTES]
// Mode idle: opens CONNS connections, prints {"connected":N} once all are up, holds them SECONDS, then exits.
// Mode connect spreads its connections over source addresses 127.0.0.2-251 (loopback targets only): from one source
// address, the kernel's search for a free ephemeral port among those in TIME_WAIT capped every server, the raw ones
// included, near 14,000 connections/s on the 2-core machine, which measured the client's kernel, not the server.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

typedef struct { int fd; size_t got; double sent_at; int connecting; } conn_t;

static struct sockaddr_storage target;
static socklen_t target_len;
static int sock_type = SOCK_STREAM;
static int family;
static char line[1 << 20];
static size_t line_len = 64;
static double *lat;
static size_t lat_n, lat_cap;
static int spread_sources;
static unsigned next_source;

static void record(double seconds) {
  if (lat_n == lat_cap) { lat_cap = lat_cap ? lat_cap * 2 : 1 << 16; lat = realloc(lat, lat_cap * sizeof *lat); }
  lat[lat_n++] = seconds;
}

static int open_conn(int nonblocking) {
  int fd = socket(family, sock_type | (nonblocking ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) { perror("socket"); exit(1); }
  if (family != AF_UNIX && sock_type == SOCK_STREAM) { int one = 1; setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); }
  if (spread_sources) {
    // The port is chosen at connect(), for the whole 4-tuple (IP_BIND_ADDRESS_NO_PORT), not at bind().
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in source = { .sin_family = AF_INET };
    source.sin_addr.s_addr = htonl(0x7f000002u + next_source++ % 250);
    if (bind(fd, (struct sockaddr *)&source, sizeof source) < 0) { perror("bind"); exit(1); }
  }
  if (sock_type == SOCK_DGRAM) {
    if (connect(fd, (struct sockaddr *)&target, target_len) < 0) { perror("connect"); exit(1); }
    return fd;
  }
  if (connect(fd, (struct sockaddr *)&target, target_len) < 0 && errno != EINPROGRESS) {
    if (!nonblocking) { close(fd); return -1; }
    perror("connect"); exit(1);
  }
  return fd;
}

static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }

int main(int argc, char **argv) {
  if (argc < 5) { fprintf(stderr, "usage: loadgen tcp|udp|connect|connectproxy|idle HOST PORT CONNS SECONDS [BYTES] | unix PATH CONNS SECONDS [BYTES]\n"); return 2; }
  const char *mode = argv[1];
  int argi;
  if (!strcmp(mode, "unix")) {
    struct sockaddr_un *un = (struct sockaddr_un *)&target;
    un->sun_family = AF_UNIX; strncpy(un->sun_path, argv[2], sizeof un->sun_path - 1);
    target_len = sizeof *un; family = AF_UNIX; argi = 3;
  } else {
    struct addrinfo hints = {0}, *res;
    hints.ai_family = AF_UNSPEC; hints.ai_socktype = !strcmp(mode, "udp") ? SOCK_DGRAM : SOCK_STREAM;
    if (getaddrinfo(argv[2], argv[3], &hints, &res)) { fprintf(stderr, "bad address\n"); return 2; }
    memcpy(&target, res->ai_addr, res->ai_addrlen); target_len = res->ai_addrlen; family = res->ai_family; argi = 4;
    freeaddrinfo(res);
  }
  if (!strcmp(mode, "udp")) sock_type = SOCK_DGRAM;
  int conns = atoi(argv[argi]);
  double seconds = atof(argv[argi + 1]);
  if (argc > argi + 2) line_len = (size_t)atol(argv[argi + 2]);
  if (line_len < 2 || line_len > sizeof line) { fprintf(stderr, "bad line size\n"); return 2; }
  memset(line, 'x', line_len - 1); line[line_len - 1] = '\n';
  int proxy = !strcmp(mode, "connectproxy");
  int per_connect = !strcmp(mode, "connect") || proxy;
  // The first write of a connection: with a PROXY v1 header (as HAProxy sends it: header and data in one segment).
  static char first[512];
  size_t first_len = line_len;
  if (proxy && line_len > 400) { fprintf(stderr, "connectproxy: lines of at most 400 bytes\n"); return 2; }
  if (proxy) {
    int n = snprintf(first, sizeof first, "PROXY TCP4 203.0.113.7 127.0.0.1 40000 %s\r\n", argv[3]);
    memcpy(first + n, line, line_len);
    first_len = (size_t)n + line_len;
  } else {
    memcpy(first, line, line_len);
  }
  spread_sources = per_connect && family == AF_INET &&
                   (ntohl(((struct sockaddr_in *)&target)->sin_addr.s_addr) >> 24) == 127;
  if (!strcmp(mode, "idle")) {
    int *fds = calloc(conns, sizeof *fds), up = 0;
    for (int i = 0; i < conns; i++) {
      fds[i] = open_conn(0);
    }
    for (int i = 0; i < conns; i++) up += fds[i] >= 0;
    printf("{\"connected\":%d}\n", up);
    fflush(stdout);
    usleep((useconds_t)(seconds * 1e6));
    return 0;
  }
  int bulk = !strcmp(mode, "bulk");

  int ep = epoll_create1(0);
  conn_t *c = calloc(conns, sizeof *c);
  static char buf[1 << 20];
  double start = now(), end = start + seconds;
  unsigned long ops = 0, errors = 0;
  unsigned long long bytes = 0;
  for (int i = 0; i < conns; i++) {
    c[i].fd = open_conn(1);
    c[i].connecting = sock_type == SOCK_STREAM;
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.u32 = i };
    epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev);
    if (!c[i].connecting) { send(c[i].fd, line, line_len, 0); c[i].sent_at = now(); ev.events = EPOLLIN; epoll_ctl(ep, EPOLL_CTL_MOD, c[i].fd, &ev); }
  }
  struct epoll_event events[1024];
  while (now() < end) {
    int n = epoll_wait(ep, events, 1024, 100);
    for (int k = 0; k < n; k++) {
      int i = events[k].data.u32;
      conn_t *cc = &c[i];
      if (cc->connecting) {
        if (events[k].events & (EPOLLERR | EPOLLHUP)) { errors++; goto reopen; }
        cc->connecting = 0;
        if (send(cc->fd, first, first_len, MSG_NOSIGNAL) < 0) { errors++; goto reopen; }
        cc->sent_at = now(); cc->got = 0;
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
        epoll_ctl(ep, EPOLL_CTL_MOD, cc->fd, &ev);
        continue;
      }
      ssize_t r = recv(cc->fd, buf, sizeof buf, 0);
      if (r <= 0) { if (r < 0 && errno == EAGAIN) continue; errors++; goto reopen; }
      bytes += r;
      cc->got += (size_t)r;
      if (sock_type == SOCK_DGRAM || cc->got >= line_len) {
        double t = now();
        record(t - cc->sent_at);
        ops++;
        cc->got = 0;
        if (per_connect) goto reopen;
        if (send(cc->fd, line, line_len, MSG_NOSIGNAL) < 0) { errors++; goto reopen; }
        cc->sent_at = t;
      }
      (void)bulk;
      continue;
    reopen:
      epoll_ctl(ep, EPOLL_CTL_DEL, cc->fd, NULL);
      close(cc->fd);
      cc->fd = -1;
      if (now() >= end) continue;
      cc->fd = open_conn(1);
      cc->connecting = sock_type == SOCK_STREAM;
      cc->got = 0;
      struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.u32 = i };
      epoll_ctl(ep, EPOLL_CTL_ADD, cc->fd, &ev);
    }
    // UDP loss: resend after 200 ms without reply.
    if (sock_type == SOCK_DGRAM) {
      double t = now();
      for (int i = 0; i < conns; i++) if (t - c[i].sent_at > 0.2) { send(c[i].fd, line, line_len, 0); c[i].sent_at = t; errors++; }
    }
  }
  double elapsed = now() - start;
  // Close politely: half-close, then read what is still in flight until the server closes (at most 200 ms). Leaving
  // unread replies would make the kernel send resets, which servers then report as failed requests.
  if (sock_type == SOCK_STREAM) {
    int open_conns = 0;
    for (int i = 0; i < conns; i++) {
      if (c[i].fd < 0) continue;
      if (c[i].connecting) { close(c[i].fd); c[i].fd = -1; continue; }
      shutdown(c[i].fd, SHUT_WR);
      open_conns++;
    }
    double drain_end = now() + 0.2;
    while (open_conns > 0 && now() < drain_end) {
      int n = epoll_wait(ep, events, 1024, 20);
      for (int k = 0; k < n; k++) {
        conn_t *cc = &c[events[k].data.u32];
        if (cc->fd < 0) continue;
        ssize_t r = recv(cc->fd, buf, sizeof buf, 0);
        if (r > 0 || (r < 0 && errno == EAGAIN)) continue;
        epoll_ctl(ep, EPOLL_CTL_DEL, cc->fd, NULL);
        close(cc->fd);
        cc->fd = -1;
        open_conns--;
      }
    }
  }
  qsort(lat, lat_n, sizeof *lat, cmp);
  double p50 = lat_n ? lat[lat_n / 2] * 1e3 : 0, p99 = lat_n ? lat[(size_t)(lat_n * 0.99)] * 1e3 : 0;
  printf("{\"ops\":%lu,\"opsPerSecond\":%.0f,\"mbPerSecond\":%.1f,\"p50ms\":%.3f,\"p99ms\":%.3f,\"errors\":%lu}\n",
         ops, ops / elapsed, bytes / elapsed / 1e6, p50, p99, errors);
  return 0;
}
