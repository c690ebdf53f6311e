#include <netdb.h>
#include <stdio.h>
#include <unistd.h>

/* Two lookups; between them the daemon closes the control connection, so the second write
   meets a closed socket. SIGPIPE keeps its default action: death. */
int main(void) {
    struct addrinfo *res = NULL;
    printf("first %d\n", getaddrinfo("first.example", "80", NULL, &res));
    fflush(stdout);
    usleep(300 * 1000);
    printf("second %d\n", getaddrinfo("second.example", "80", NULL, &res));
    puts("alive");
    return 0;
}
