/* The libtirpc contender of scripts/bench_rpc.ts: the calc.x server that rpcgen generates, single-threaded svc_run.
 * The dispatcher calc_prog_1 is rpcgen's own (`rpcgen -m calc.x`); this file holds the procedures and a main() that
 * does what rpcgen's main does (svctcp_create / svcudp_create, svc_register, svc_run) except registering with the
 * portmapper: svc_register gets protocol 0, so no rpcbind is needed, and the bench finds the port on stdout.
 * Usage: rpcgen_calc_server tcp|udp [PORT]. Prints "listening on 127.0.0.1:PORT". */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <rpc/rpc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "calc.h"

extern void calc_prog_1(struct svc_req *, SVCXPRT *);

int *add_1_svc(intpair *pair, struct svc_req *request) {
  static int sum;
  (void)request;
  sum = (int)((unsigned)pair->a + (unsigned)pair->b);
  return &sum;
}

char **echo_1_svc(char **text, struct svc_req *request) {
  static char *result;
  (void)request;
  result = *text;
  return &result;
}

bigstr *bigecho_1_svc(bigstr *text, struct svc_req *request) {
  static bigstr result;
  (void)request;
  result = *text;
  return &result;
}

int main(int argc, char **argv) {
  if (argc < 2 || (strcmp(argv[1], "tcp") && strcmp(argv[1], "udp"))) {
    fprintf(stderr, "usage: rpcgen_calc_server tcp|udp [PORT]\n");
    return 2;
  }
  int tcp = !strcmp(argv[1], "tcp");
  int sock = socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
  struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(argc > 2 ? atoi(argv[2]) : 0) };
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (sock < 0 || bind(sock, (struct sockaddr *)&address, sizeof address) < 0) {
    perror("bind");
    return 2;
  }
  /* libtirpc's svctcp_create listens only on a socket it bound itself. */
  if (tcp && listen(sock, SOMAXCONN) < 0) {
    perror("listen");
    return 2;
  }
  SVCXPRT *transport = tcp ? svctcp_create(sock, 0, 0) : svcudp_create(sock);
  if (transport == NULL) {
    fprintf(stderr, "cannot create the %s service\n", argv[1]);
    return 2;
  }
  if (!svc_register(transport, CALC_PROG, CALC_VERS, calc_prog_1, 0)) {
    fprintf(stderr, "unable to register (CALC_PROG, CALC_VERS, %s)\n", argv[1]);
    return 2;
  }
  socklen_t length = sizeof address;
  getsockname(sock, (struct sockaddr *)&address, &length);
  printf("listening on 127.0.0.1:%d\n", ntohs(address.sin_port));
  fflush(stdout);
  svc_run();
  fprintf(stderr, "svc_run returned\n");
  return 1;
}
