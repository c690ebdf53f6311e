/* For mocket's strict --seccomp test of the re-read race (tests/tests/seccomp.rs): one thread
 * keeps rewriting the address buffer between an allowed port and a refused one while the main
 * thread connects with it, 300 times. Prints how many connects succeeded. Built with
 * musl-gcc -static -pthread. Usage: address_flipper ALLOWED_PORT REFUSED_PORT */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile struct sockaddr_in target;
static volatile int stop;
static int allowed, refused;

static void *flip(void *arg) {
  (void)arg;
  while (!stop) {
    target.sin_port = htons(allowed);
    target.sin_port = htons(refused);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  allowed = atoi(argv[1]);
  refused = atoi(argv[2]);
  target.sin_family = AF_INET;
  target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  target.sin_port = htons(allowed);
  pthread_t t;
  pthread_create(&t, NULL, flip, NULL);
  int ok = 0;
  for (int i = 0; i < 300; i++) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(s, (struct sockaddr *)&target, sizeof target) == 0) ok++;
    close(s);
  }
  stop = 1;
  pthread_join(t, NULL);
  printf("connected %d\n", ok);
  return 0;
}
