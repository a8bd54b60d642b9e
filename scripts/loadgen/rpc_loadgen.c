// The load generator of scripts/bench_rpc.ts: ONC RPC calls to program 0x20000099 version 1 (examples/calc.x) for D
// seconds, from one thread with epoll. Each call is encoded once (AUTH_NONE); only its XID is rewritten per send.
// Over TCP every connection keeps DEPTH calls in flight (record marking, one fragment per call); over UDP every client
// socket keeps one call in flight and resends it after 200 ms without a reply (counted in "retries").
// A reply counts only when its XID is the one awaited, it is MSG_ACCEPTED with accept_stat SUCCESS and, for ADD, its
// result is the sum asked for; any other reply is counted in "bad" (and, over TCP, ends the connection's count).
// Usage: rpc_loadgen tcp|udp HOST PORT CONNS SECONDS null|add [DEPTH]
// Prints one JSON line: {"ops","opsPerSecond","p50ms","p99ms","bad","retries","errors"}.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROGRAM 0x20000099u
#define VERSION 1u
#define MAX_DEPTH 64

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

typedef struct {
  int fd;
  int connecting;
  int dead;
  uint32_t next;                 // sequence number of the next call sent
  uint32_t awaited;              // sequence number of the oldest call in flight
  double sent_at[MAX_DEPTH];     // by sequence number modulo MAX_DEPTH
  unsigned char in[4096];        // reply bytes not yet parsed (TCP)
  size_t in_len;
} conn_t;

static struct sockaddr_storage target;
static socklen_t target_len;
static int family, udp, add, depth = 1;
static unsigned char call[64];  // record mark (TCP) + call message
static size_t call_len, call_start;  // call_start: offset of the message (4 over TCP, 0 over UDP)
static double *lat;
static size_t lat_n, lat_cap;
static unsigned long ops, bad, retries, errors;

static void put32(unsigned char *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }
static uint32_t get32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void record_latency(double seconds) {
  if (lat_n == lat_cap) { lat_cap = lat_cap ? lat_cap * 2 : 1 << 16; lat = realloc(lat, lat_cap * sizeof *lat); }
  lat[lat_n++] = seconds;
}

// The XID of call `seq` of connection `i`: unique per connection and call, so a stale or foreign reply is seen.
static uint32_t xid_of(int i, uint32_t seq) { return (uint32_t)i << 22 ^ (seq & 0x3fffff) ^ 0x5a000000u; }
// ADD's arguments for call `seq`: a = seq (as int), b = 7; the reply must be a + b (32-bit wrap-around).
static uint32_t sum_of(uint32_t seq) { return seq + 7u; }

static void encode_call(void) {
  unsigned char *p = call;
  call_start = udp ? 0 : 4;
  p += call_start;
  uint32_t words[] = {0, 0 /* CALL */, 2, PROGRAM, VERSION, add ? 1u : 0u, 0, 0 /* AUTH_NONE cred */, 0, 0 /* verf */};
  for (size_t k = 0; k < sizeof words / sizeof *words; k++, p += 4) put32(p, words[k]);
  if (add) { put32(p, 0); put32(p + 4, 7); p += 8; }
  call_len = (size_t)(p - call);
  if (!udp) put32(call, 0x80000000u | (uint32_t)(call_len - 4));
}

static int send_call(conn_t *c, int i) {
  uint32_t seq = c->next++;
  put32(call + call_start, xid_of(i, seq));
  if (add) put32(call + call_start + 40, seq);
  c->sent_at[seq % MAX_DEPTH] = now();
  return send(c->fd, call, call_len, MSG_NOSIGNAL) == (ssize_t)call_len ? 0 : -1;
}

// Checks one reply message against the oldest call in flight: 1 if it is right, 0 if not.
static int check_reply(conn_t *c, int i, const unsigned char *m, size_t len) {
  uint32_t seq = c->awaited;
  if (len < 24 || get32(m) != xid_of(i, seq) || get32(m + 4) != 1 || get32(m + 8) != 0) return 0;
  uint32_t verf_len = get32(m + 16);
  if (verf_len > 400 || len < 24 + verf_len) return 0;
  const unsigned char *r = m + 20 + ((verf_len + 3) & ~3u);
  if ((size_t)(r - m) + 4 > len || get32(r) != 0 /* SUCCESS */) return 0;
  size_t results = len - (size_t)(r + 4 - m);
  if (add ? results != 4 || get32(r + 4) != sum_of(seq) : results != 0) return 0;
  return 1;
}

static void open_conn(conn_t *c, int ep, int i) {
  c->fd = socket(family, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK, 0);
  if (c->fd < 0) { perror("socket"); exit(1); }
  if (!udp) { int one = 1; setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); }
  if (connect(c->fd, (struct sockaddr *)&target, target_len) < 0 && errno != EINPROGRESS) { perror("connect"); exit(1); }
  c->connecting = !udp;
  struct epoll_event ev = { .events = EPOLLIN | (udp ? 0 : EPOLLOUT), .data.u32 = (uint32_t)i };
  epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
  if (udp && send_call(c, i) < 0) errors++;
}

static void kill_conn(conn_t *c, int ep) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->dead = 1;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 7) { fprintf(stderr, "usage: rpc_loadgen tcp|udp HOST PORT CONNS SECONDS null|add [DEPTH]\n"); return 2; }
  udp = !strcmp(argv[1], "udp");
  if (!udp && strcmp(argv[1], "tcp")) { fprintf(stderr, "transport must be tcp or udp\n"); return 2; }
  struct addrinfo hints = {0}, *res;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = udp ? SOCK_DGRAM : SOCK_STREAM;
  if (getaddrinfo(argv[2], argv[3], &hints, &res)) { fprintf(stderr, "bad address\n"); return 2; }
  memcpy(&target, res->ai_addr, res->ai_addrlen);
  target_len = res->ai_addrlen;
  family = res->ai_family;
  freeaddrinfo(res);
  int conns = atoi(argv[4]);
  double seconds = atof(argv[5]);
  add = !strcmp(argv[6], "add");
  if (!add && strcmp(argv[6], "null")) { fprintf(stderr, "procedure must be null or add\n"); return 2; }
  if (argc > 7) depth = atoi(argv[7]);
  if (conns < 1 || depth < 1 || depth > MAX_DEPTH || (udp && depth != 1)) {
    fprintf(stderr, "CONNS must be >= 1 and DEPTH 1..%d (1 over UDP)\n", MAX_DEPTH);
    return 2;
  }
  encode_call();

  int ep = epoll_create1(0);
  conn_t *c = calloc((size_t)conns, sizeof *c);
  double start = now(), end = start + seconds;
  for (int i = 0; i < conns; i++) open_conn(&c[i], ep, i);
  struct epoll_event events[1024];
  static unsigned char buf[65536];
  while (now() < end) {
    int n = epoll_wait(ep, events, 1024, 50);
    for (int k = 0; k < n; k++) {
      int i = (int)events[k].data.u32;
      conn_t *cc = &c[i];
      if (cc->dead) continue;
      if (cc->connecting) {
        if (events[k].events & (EPOLLERR | EPOLLHUP)) { errors++; kill_conn(cc, ep); continue; }
        cc->connecting = 0;
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
        epoll_ctl(ep, EPOLL_CTL_MOD, cc->fd, &ev);
        for (int d = 0; d < depth; d++) if (send_call(cc, i) < 0) { errors++; kill_conn(cc, ep); break; }
        continue;
      }
      if (udp) {
        ssize_t r = recv(cc->fd, buf, sizeof buf, 0);
        if (r < 0) { if (errno != EAGAIN) errors++; continue; }
        // A late reply to a call already resent has its XID: a reply to an older call is stale, not wrong.
        if (!check_reply(cc, i, buf, (size_t)r)) {
          if (r < 4 || get32(buf) != xid_of(i, cc->awaited)) continue;
          bad++;
        } else {
          double t = now();
          record_latency(t - cc->sent_at[cc->awaited % MAX_DEPTH]);
          ops++;
        }
        cc->awaited = cc->next;
        if (send_call(cc, i) < 0) errors++;
        continue;
      }
      ssize_t r = recv(cc->fd, cc->in + cc->in_len, sizeof cc->in - cc->in_len, 0);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        errors++;
        kill_conn(cc, ep);
        continue;
      }
      cc->in_len += (size_t)r;
      size_t at = 0;
      while (cc->in_len - at >= 4) {
        uint32_t mark = get32(cc->in + at);
        size_t length = mark & 0x7fffffffu;
        // Every reply is small and in one fragment: anything else is a wrong reply.
        if (!(mark & 0x80000000u) || length > sizeof cc->in - 4) { bad++; kill_conn(cc, ep); break; }
        if (cc->in_len - at < 4 + length) break;
        if (!check_reply(cc, i, cc->in + at + 4, length)) { bad++; kill_conn(cc, ep); break; }
        record_latency(now() - cc->sent_at[cc->awaited % MAX_DEPTH]);
        ops++;
        cc->awaited++;
        at += 4 + length;
        if (send_call(cc, i) < 0) { errors++; kill_conn(cc, ep); break; }
      }
      if (cc->dead) continue;
      memmove(cc->in, cc->in + at, cc->in_len - at);
      cc->in_len -= at;
    }
    if (udp) {
      double t = now();
      for (int i = 0; i < conns; i++) {
        if (t - c[i].sent_at[c[i].awaited % MAX_DEPTH] > 0.2) {
          retries++;
          c[i].awaited = c[i].next;
          if (send_call(&c[i], i) < 0) errors++;
        }
      }
    }
  }
  double elapsed = now() - start;
  // Close politely: half-close and read what is still in flight (at most 200 ms), so that unread replies do not make
  // the kernel send resets.
  int open_conns = 0;
  for (int i = 0; i < conns; i++) {
    if (c[i].dead) continue;
    if (udp || c[i].connecting) { kill_conn(&c[i], ep); continue; }
    shutdown(c[i].fd, SHUT_WR);
    open_conns++;
  }
  double drain_end = now() + 0.2;
  while (open_conns > 0 && now() < drain_end) {
    int n = epoll_wait(ep, events, 1024, 20);
    for (int k = 0; k < n; k++) {
      conn_t *cc = &c[events[k].data.u32];
      if (cc->dead) continue;
      ssize_t r = recv(cc->fd, buf, sizeof buf, 0);
      if (r > 0 || (r < 0 && errno == EAGAIN)) continue;
      kill_conn(cc, ep);
      open_conns--;
    }
  }
  qsort(lat, lat_n, sizeof *lat, cmp);
  double p50 = lat_n ? lat[lat_n / 2] * 1e3 : 0, p99 = lat_n ? lat[(size_t)(lat_n * 0.99)] * 1e3 : 0;
  printf("{\"ops\":%lu,\"opsPerSecond\":%.0f,\"p50ms\":%.3f,\"p99ms\":%.3f,\"bad\":%lu,\"retries\":%lu,\"errors\":%lu}\n",
         ops, ops / elapsed, p50, p99, bad, retries, errors);
  return 0;
}
