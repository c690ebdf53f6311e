#define _GNU_SOURCE
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile int notified = 0;
static void done(union sigval value) { notified = value.sival_int; }

/* A fake nameserver on 127.0.0.1:53 (the namespace's resolv.conf names it), then every
   resolver entry point that could send a query; the nameserver counts what reached it. */
int main(void) {
    int ns = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in at = {.sin_family = AF_INET, .sin_port = htons(53)};
    at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ns, (struct sockaddr *)&at, sizeof at) != 0) { perror("bind 127.0.0.1:53"); return 2; }
    fcntl(ns, F_SETFL, O_NONBLOCK);
    unsigned char buf[512];
    struct __res_state st;
    memset(&st, 0, sizeof st);
    if (res_ninit(&st) != 0) { puts("res_ninit failed"); return 2; }
    st.retrans = 1; st.retry = 1;
    res_init(); _res.retrans = 1; _res.retry = 1;
    printf("res_nquery %d\n", res_nquery(&st, "example.org", C_IN, T_A, buf, sizeof buf));
    printf("res_nsearch %d\n", res_nsearch(&st, "example.org", C_IN, T_A, buf, sizeof buf));
    printf("res_nquerydomain %d\n", res_nquerydomain(&st, "www", "example.org", C_IN, T_A, buf, sizeof buf));
    printf("res_querydomain %d\n", res_querydomain("www", "example.org", C_IN, T_A, buf, sizeof buf));
    printf("res_query numeric %d\n", res_query("8.8.8.8", C_IN, T_A, buf, sizeof buf));
    unsigned char q[512];
    int qlen = res_mkquery(QUERY, "example.org", C_IN, T_A, NULL, 0, NULL, q, sizeof q);
    printf("res_send %d\n", res_send(q, qlen, buf, sizeof buf));
    printf("res_nsend %d\n", res_nsend(&st, q, qlen, buf, sizeof buf));
    struct gaicb req = {.ar_name = "example.org"};
    struct gaicb *list[1] = {&req};
    int r = getaddrinfo_a(GAI_WAIT, list, 1, NULL);
    printf("getaddrinfo_a %d %d\n", r, gai_error(&req));
    struct gaicb later = {.ar_name = "example.net"};
    struct gaicb *nowait[1] = {&later};
    struct sigevent event = {.sigev_notify = SIGEV_THREAD, .sigev_notify_function = done};
    event.sigev_value.sival_int = 7;
    r = getaddrinfo_a(GAI_NOWAIT, nowait, 1, &event);
    const struct gaicb *pending[1] = {&later};
    gai_suspend(pending, 1, NULL);
    for (int i = 0; i < 300 && !notified; i++) usleep(10000);
    printf("getaddrinfo_a nowait %d %d %d\n", r, gai_error(&later), notified);
    struct in_addr g;
    inet_pton(AF_INET, "8.8.8.8", &g);
    struct hostent *h = gethostbyaddr(&g, 4, AF_INET);
    printf("gethostbyaddr %s %d\n", h ? h->h_name : "null", h_errno);
    struct hostent he, *res = NULL;
    char hb[1024];
    int herr = 0;
    gethostbyaddr_r(&g, 4, AF_INET, &he, hb, sizeof hb, &res, &herr);
    printf("gethostbyaddr_r %s %d\n", res ? res->h_name : "null", herr);
    struct sockaddr_in s8 = {.sin_family = AF_INET, .sin_port = htons(53)};
    s8.sin_addr = g;
    char host[256] = "";
    r = getnameinfo((struct sockaddr *)&s8, sizeof s8, host, sizeof host, NULL, 0, NI_NAMEREQD);
    printf("getnameinfo namereqd %s\n", r == EAI_NONAME ? "EAI_NONAME" : gai_strerror(r));
    r = getnameinfo((struct sockaddr *)&s8, sizeof s8, host, sizeof host, NULL, 0, 0);
    printf("getnameinfo %d %s\n", r, host);
    int n = 0;
    while (recv(ns, buf, sizeof buf, 0) > 0) n++;
    printf("queries %d\n", n);
    return 0;
}
