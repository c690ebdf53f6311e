/* For tests/tests/seccomp.rs: connect() with a bad descriptor, a non-socket and a bad pointer must fail under --seccomp exactly as without it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
int main(void) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(80), .sin_addr.s_addr = htonl(0x0a090909)};
  int r = connect(77, (struct sockaddr *)&a, sizeof a); printf("badfd %d %s\n", r, strerror(errno));
  r = connect(0, (struct sockaddr *)&a, sizeof a); printf("notsock %d %s\n", r, strerror(errno));
  int s = socket(AF_INET, SOCK_STREAM, 0);
  r = connect(s, (struct sockaddr *)8, sizeof a); printf("fault %d %s\n", r, strerror(errno));
  return 0;
}
