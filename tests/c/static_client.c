/* A statically linked TCP client for mocket's --seccomp tests (built with musl-gcc -static by
 * tests/tests/seccomp.rs): connect to IPv4:PORT, send "ping\n", print the reply line. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: %s IPV4 PORT\n", argv[0]); return 2; }
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
  inet_pton(AF_INET, argv[1], &a.sin_addr);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); return 3; }
  write(s, "ping\n", 5);
  char buf[256]; ssize_t n = read(s, buf, sizeof buf - 1);
  if (n < 0) { perror("read"); return 4; }
  buf[n] = 0;
  printf("reply %s", buf);
  return 0;
}
