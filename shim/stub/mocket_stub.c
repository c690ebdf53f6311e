/*
 * libmocket.so: the preloaded stub. It is as small as a no-op preload so that the many
 * processes under mocket that never resolve a name nor connect (shells, compilers, build
 * scripts) pay what any LD_PRELOAD tool pays. It loads the Rust shim (libmocket_shim.so, beside
 * this file) on the first hooked call that needs a decision and forwards every hook to it from
 * then on; a call that needs no decision before that (a connect to a Unix socket, a send
 * without a destination, getpeername) goes straight to libc.
 *
 * DESIGN section 2 still holds: a hook re-entered while the Rust shim loads goes to libc;
 * errno is what the caller would see from libc; a Rust shim that cannot be loaded fails every
 * call needing a decision, with one line on stderr, and nothing reaches the network.
 *
 * The constructor only reads the environment and, when there is something to change, adjusts
 * it itself (relative MOCKET_* paths made absolute; under a bare LD_PRELOAD with a mocket CA,
 * the CA-bundle variables pointed at it): it never loads the Rust shim. The names come from
 * mocket-control, through the generated mocket_stub_env.h.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mocket_stub_env.h"

#define EXPORT __attribute__((visibility("default")))

/* Only the few fields read here; the hooks pass every pointer through untouched. */
struct sockaddr;
struct msghdr_head {
    void *msg_name;
    unsigned int msg_namelen;
};
typedef unsigned int socklen_t_;

#define AF_INET_ 2
#define AF_INET6_ 10
#define NO_RECOVERY_ 3
#define EAI_FAIL_ (-4)
#define EAI_SYSTEM_ (-11)
#define AT_FDCWD_ (-100)

extern int *__h_errno_location(void);

/* The hooks, in the order of NAMES. */
enum {
    F_connect, F_getpeername, F_sendto, F_sendmsg, F_sendmmsg,
    F_getaddrinfo, F_getnameinfo, F_gethostbyname, F_gethostbyname2, F_gethostbyname_r,
    F_gethostbyname2_r, F_gethostbyaddr, F_gethostbyaddr_r,
    F_res_query, F_res_search, F_res_querydomain, F_res_nquery, F_res_nsearch,
    F_res_nquerydomain, F_res_send, F_res_nsend, F_getaddrinfo_a,
    F_SSL_CTX_new, F_SSL_new,
    F_mocket_control_open, F_mocket_control_send, F_mocket_control_free,
    F_mocket_control_close,
    F_COUNT
};

static const char *const NAMES[F_COUNT] = {
    "connect", "getpeername", "sendto", "sendmsg", "sendmmsg",
    "getaddrinfo", "getnameinfo", "gethostbyname", "gethostbyname2", "gethostbyname_r",
    "gethostbyname2_r", "gethostbyaddr", "gethostbyaddr_r",
    "res_query", "res_search", "res_querydomain", "res_nquery", "res_nsearch",
    "res_nquerydomain", "res_send", "res_nsend", "getaddrinfo_a",
    "SSL_CTX_new", "SSL_new",
    "mocket_control_open", "mocket_control_send", "mocket_control_free",
    "mocket_control_close",
};

/* glibc before 2.34 names the resolver functions __res_*. */
static const char *const OLD_NAMES[F_COUNT] = {
    [F_res_query] = "__res_query", [F_res_search] = "__res_search",
    [F_res_querydomain] = "__res_querydomain", [F_res_nquery] = "__res_nquery",
    [F_res_nsearch] = "__res_nsearch", [F_res_nquerydomain] = "__res_nquerydomain",
    [F_res_send] = "__res_send", [F_res_nsend] = "__res_nsend",
};

#define RUST_SHIM "libmocket_shim.so"

enum { NOT_LOADED, LOADED, UNLOADABLE };

static _Atomic int shim_state = NOT_LOADED;
static void *_Atomic shim_fns[F_COUNT];
static void *_Atomic libc_fns[F_COUNT];
static _Atomic int said_unloadable;
/* Set while this thread loads the Rust shim: its hooked calls meanwhile go to libc. */
static __thread int loading_here __attribute__((tls_model("initial-exec")));
/* Why the Rust shim cannot be loaded (truncated): small, as the library's writable data must
 * stay within one page (see the changes below). */
static char unloadable_why[1024];

/* The next definition of `name` after this library (libc's): the Rust shim calls this for
 * its real functions, as RTLD_NEXT from inside a dlopen'ed library would not find them. */
static void *next_symbol(const char *name) { return dlsym(RTLD_NEXT, name); }

static void say(const char *a, const char *b, const char *c) {
    struct iovec parts[4] = {
        {(void *)"mocket: ", 8}, {(void *)a, strlen(a)}, {(void *)b, strlen(b)},
        {(void *)c, strlen(c)},
    };
    ssize_t ignored = writev(2, parts, 4);
    (void)ignored;
}

/* The Rust shim's path: beside this library. */
static void rust_shim_path(char *out, size_t size) {
    Dl_info info;
    const char *slash = NULL;
    size_t dir = 0;
    if (dladdr((void *)&rust_shim_path, &info) != 0 && info.dli_fname != NULL) {
        slash = strrchr(info.dli_fname, '/');
        if (slash != NULL)
            dir = (size_t)(slash - info.dli_fname) + 1;
    }
    if (dir + sizeof RUST_SHIM > size) {
        dir = 0;
    }
    if (dir > 0)
        memcpy(out, info.dli_fname, dir);
    memcpy(out + dir, RUST_SHIM, sizeof RUST_SHIM);
}

typedef void (*attach_fn)(void *(*)(const char *), const void *);

static void set_unloadable(const char *path, const char *why) {
    int n = snprintf(unloadable_why, sizeof unloadable_why, "%s (%s)", path,
                     why ? why : "unknown error");
    if (n >= (int)sizeof unloadable_why) /* cut short: say so */
        memcpy(unloadable_why + sizeof unloadable_why - sizeof "...)", "...)", sizeof "...)");
    atomic_store_explicit(&shim_state, UNLOADABLE, memory_order_release);
}

/* Loads the Rust shim once; racing threads each dlopen the same handle, harmlessly. */
static int load_shim(void) {
    int state = atomic_load_explicit(&shim_state, memory_order_acquire);
    if (state != NOT_LOADED)
        return state == LOADED;
    char path[PATH_MAX];
    rust_shim_path(path, sizeof path);
    loading_here = 1;
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        set_unloadable(path, dlerror());
        loading_here = 0;
        return 0;
    }
    void *attach = dlsym(handle, "mocket_shim_attach");
    int complete = attach != NULL;
    for (int i = 0; i < F_COUNT && complete; i++) {
        void *f = dlsym(handle, NAMES[i]);
        complete = f != NULL;
        atomic_store_explicit(&shim_fns[i], f, memory_order_relaxed);
    }
    if (!complete) {
        set_unloadable(path, "it does not export mocket's hooks: not a libmocket_shim.so of this version");
        loading_here = 0;
        return 0;
    }
    Dl_info self;
    const void *base = dladdr((void *)&load_shim, &self) != 0 ? self.dli_fbase : NULL;
    ((attach_fn)attach)(next_symbol, base);
    atomic_store_explicit(&shim_state, LOADED, memory_order_release);
    loading_here = 0;
    return 1;
}

/* Returned by pick() when the Rust shim cannot be loaded. */
#define UNLOADABLE_FN ((void *)1)

/* The function a hook calls: the Rust shim's once loaded; when it is not, libc's (NULL
 * here) for a call that needs no decision, else the Rust shim's after loading it. */
static void *pick(int index, int needs_decision) {
    if (loading_here)
        return NULL;
    if (atomic_load_explicit(&shim_state, memory_order_acquire) == LOADED)
        return atomic_load_explicit(&shim_fns[index], memory_order_relaxed);
    if (!needs_decision)
        return NULL;
    int saved = errno;
    int loaded = load_shim();
    errno = saved;
    return loaded ? atomic_load_explicit(&shim_fns[index], memory_order_relaxed) : UNLOADABLE_FN;
}

/* The Rust shim's hook `index` when it is loaded (and this thread is not loading it), else
 * what pick() says. A hook's `needs` test (for connect and the sends, a copy of the caller's
 * memory: a system call) is made only before the Rust shim is loaded: once it is, the Rust
 * shim judges every call itself. */
#define PICK(index, needs)                                                                \
    (!loading_here && atomic_load_explicit(&shim_state, memory_order_acquire) == LOADED   \
         ? atomic_load_explicit(&shim_fns[index], memory_order_relaxed)                   \
         : pick(index, (needs)))

/* libc's definition of a hooked function, looked up once. */
static void *libc_fn(int index) {
    void *f = atomic_load_explicit(&libc_fns[index], memory_order_acquire);
    if (f == NULL) {
        f = dlsym(RTLD_NEXT, NAMES[index]);
        if (f == NULL && OLD_NAMES[index] != NULL)
            f = dlsym(RTLD_NEXT, OLD_NAMES[index]);
        atomic_store_explicit(&libc_fns[index], f, memory_order_release);
    }
    return f;
}

/* Says once per process why calls are refused. */
static void refused(const char *hook) {
    if (atomic_exchange(&said_unloadable, 1) == 0)
        say("cannot load the Rust shim ", unloadable_why,
            ": every lookup and connect is refused. Put libmocket_shim.so beside libmocket.so "
            "(rebuild with `cargo build --workspace`, or reinstall mocket)\n");
    (void)hook;
}

/* Copies `n` bytes of caller memory without trusting the pointer; 0 when it cannot. */
static int peek(const void *addr, void *out, size_t n) {
    if (addr == NULL)
        return 0;
    struct iovec local = {out, n}, remote = {(void *)addr, n};
    int saved = errno;
    long got = syscall(SYS_process_vm_readv, (long)getpid(), &local, 1L, &remote, 1L, 0L);
    errno = saved;
    return got == (long)n;
}

/* Whether a destination address needs a decision: an IP address, or one that cannot be
 * read here (the Rust shim answers EFAULT or judges it). */
static int is_ip_or_unreadable(const struct sockaddr *addr, socklen_t_ len) {
    unsigned short family;
    if (addr == NULL || len < sizeof family)
        return 0;
    if (!peek(addr, &family, sizeof family))
        return 1;
    return family == AF_INET_ || family == AF_INET6_;
}

static int send_needs_decision(const void *msg) {
    struct msghdr_head head;
    if (msg == NULL)
        return 0;
    if (!peek(msg, &head, sizeof head))
        return 1;
    return is_ip_or_unreadable(head.msg_name, head.msg_namelen);
}

/* One hook: `needs` says whether the call needs a decision; `refuse` is the statement that
 * sets what a refused call reports (errno, h_errno) when the Rust shim cannot be loaded, and
 * `fail_value` what it returns. */
#define HOOK_REFUSING(ret, name, params, args, needs, refuse, fail_value)                 \
    EXPORT ret name params {                                                              \
        typedef ret(*fn_t) params;                                                        \
        void *f = PICK(F_##name, needs);                                                  \
        if (f == UNLOADABLE_FN) {                                                         \
            refused(#name);                                                               \
            refuse;                                                                       \
            return fail_value;                                                            \
        }                                                                                 \
        if (f == NULL)                                                                    \
            f = libc_fn(F_##name);                                                        \
        if (f == NULL) {                                                                  \
            errno = ENOSYS;                                                               \
            return fail_value;                                                            \
        }                                                                                 \
        return ((fn_t)f) args;                                                            \
    }

/* A socket hook refuses with `fail_errno` (0: errno untouched). */
#define HOOK(ret, name, params, args, needs, fail_errno, fail_value)                      \
    HOOK_REFUSING(ret, name, params, args, needs,                                        \
                  do { if ((fail_errno) != 0) errno = (fail_errno); } while (0), fail_value)

/* A resolver hook also sets h_errno when refused. */
#define LOOKUP_HOOK(ret, name, params, args, fail_value)                                  \
    HOOK_REFUSING(ret, name, params, args, 1, *__h_errno_location() = NO_RECOVERY_, fail_value)

HOOK(int, connect, (int fd, const struct sockaddr *addr, socklen_t_ len), (fd, addr, len),
     is_ip_or_unreadable(addr, len), ECONNREFUSED, -1)
HOOK(int, getpeername, (int fd, struct sockaddr *addr, socklen_t_ *len), (fd, addr, len),
     0, 0, -1)
HOOK(ssize_t, sendto,
     (int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr, socklen_t_ len),
     (fd, buf, n, flags, addr, len), is_ip_or_unreadable(addr, len), EPERM, -1)
HOOK(ssize_t, sendmsg, (int fd, const void *msg, int flags), (fd, msg, flags),
     send_needs_decision(msg), EPERM, -1)
HOOK(int, sendmmsg, (int fd, void *msgvec, unsigned int vlen, int flags),
     (fd, msgvec, vlen, flags), vlen > 0, EPERM, -1)
HOOK(int, getaddrinfo, (const char *node, const char *service, const void *hints, void **res),
     (node, service, hints, res), 1, 0, EAI_FAIL_)
HOOK(int, getnameinfo,
     (const struct sockaddr *sa, socklen_t_ salen, char *host, socklen_t_ hostlen, char *serv,
      socklen_t_ servlen, int flags),
     (sa, salen, host, hostlen, serv, servlen, flags), 1, 0, EAI_FAIL_)
LOOKUP_HOOK(void *, gethostbyname, (const char *name), (name), NULL)
LOOKUP_HOOK(void *, gethostbyname2, (const char *name, int af), (name, af), NULL)
LOOKUP_HOOK(void *, gethostbyaddr, (const void *addr, socklen_t_ len, int type),
            (addr, len, type), NULL)

/* The reentrant lookups report through *h_errnop. */
#define REENTRANT_HOOK(name, params, args, h_errnop, result)                              \
    EXPORT int name params {                                                              \
        typedef int(*fn_t) params;                                                        \
        void *f = pick(F_##name, 1);                                                      \
        if (f == UNLOADABLE_FN) {                                                         \
            refused(#name);                                                               \
            if (result != NULL)                                                           \
                *result = NULL;                                                           \
            if (h_errnop != NULL)                                                         \
                *h_errnop = NO_RECOVERY_;                                                 \
            return ECONNREFUSED;                                                          \
        }                                                                                 \
        if (f == NULL)                                                                    \
            f = libc_fn(F_##name);                                                        \
        if (f == NULL)                                                                    \
            return ENOSYS;                                                                \
        return ((fn_t)f) args;                                                            \
    }

REENTRANT_HOOK(gethostbyname_r,
               (const char *name, void *ret, char *buf, size_t len, void **result, int *h_errnop),
               (name, ret, buf, len, result, h_errnop), h_errnop, result)
REENTRANT_HOOK(gethostbyname2_r,
               (const char *name, int af, void *ret, char *buf, size_t len, void **result,
                int *h_errnop),
               (name, af, ret, buf, len, result, h_errnop), h_errnop, result)
REENTRANT_HOOK(gethostbyaddr_r,
               (const void *addr, socklen_t_ alen, int type, void *ret, char *buf, size_t len,
                void **result, int *h_errnop),
               (addr, alen, type, ret, buf, len, result, h_errnop), h_errnop, result)

LOOKUP_HOOK(int, res_query,
            (const char *name, int class, int type, unsigned char *answer, int anslen),
            (name, class, type, answer, anslen), -1)
LOOKUP_HOOK(int, res_search,
            (const char *name, int class, int type, unsigned char *answer, int anslen),
            (name, class, type, answer, anslen), -1)
LOOKUP_HOOK(int, res_querydomain,
            (const char *name, const char *domain, int class, int type, unsigned char *answer,
             int anslen),
            (name, domain, class, type, answer, anslen), -1)
LOOKUP_HOOK(int, res_nquery,
            (void *state, const char *name, int class, int type, unsigned char *answer,
             int anslen),
            (state, name, class, type, answer, anslen), -1)
LOOKUP_HOOK(int, res_nsearch,
            (void *state, const char *name, int class, int type, unsigned char *answer,
             int anslen),
            (state, name, class, type, answer, anslen), -1)
LOOKUP_HOOK(int, res_nquerydomain,
            (void *state, const char *name, const char *domain, int class, int type,
             unsigned char *answer, int anslen),
            (state, name, domain, class, type, answer, anslen), -1)
LOOKUP_HOOK(int, res_send,
            (const unsigned char *msg, int msglen, unsigned char *answer, int anslen),
            (msg, msglen, answer, anslen), -1)
LOOKUP_HOOK(int, res_nsend,
            (void *state, const unsigned char *msg, int msglen, unsigned char *answer,
             int anslen),
            (state, msg, msglen, answer, anslen), -1)
HOOK(int, getaddrinfo_a, (int mode, void *list, int count, void *notify),
     (mode, list, count, notify), 1, 0, EAI_SYSTEM_)
/* Trust injection: with no Rust shim the mocket CA cannot be added; no context is made. */
HOOK(void *, SSL_CTX_new, (const void *method), (method), 1, 0, NULL)
HOOK(void *, SSL_new, (void *ctx), (ctx), 1, 0, NULL)

/* The test API's functions (shim/api finds them in the global scope). */
HOOK(uint64_t, mocket_control_open, (void *on_message, void *ctx), (on_message, ctx), 1, 0, 0)
HOOK(uint8_t *, mocket_control_send,
     (uint64_t session, const uint8_t *request, size_t len, size_t *reply_len),
     (session, request, len, reply_len), 1, 0, NULL)

EXPORT void mocket_control_free(uint8_t *reply, size_t len) {
    void *f = pick(F_mocket_control_free, 0);
    if (f != NULL && f != UNLOADABLE_FN)
        ((void (*)(uint8_t *, size_t))f)(reply, len);
}

EXPORT void mocket_control_close(uint64_t session) {
    void *f = pick(F_mocket_control_close, 0);
    if (f != NULL && f != UNLOADABLE_FN)
        ((void (*)(uint64_t))f)(session);
}

/* glibc's other names, exported too: a caller bound to them is judged the same way. */
#define ALIAS(name, target) EXPORT __typeof__(target) name __attribute__((alias(#target)));
ALIAS(__connect, connect)
ALIAS(__res_query, res_query)
ALIAS(__res_search, res_search)
ALIAS(__res_querydomain, res_querydomain)
ALIAS(__res_nquery, res_nquery)
ALIAS(__res_nsearch, res_nsearch)
ALIAS(__res_nquerydomain, res_nquerydomain)
ALIAS(__res_send, res_send)
ALIAS(__res_nsend, res_nsend)

/* ---- The constructor: mocket-control's preload_env rules (`anchored_paths`,
 * `bundle_pointing`), written again in C so that no process loads the Rust shim for them; the
 * tests of tests/tests/preload_cost.rs check that both agree. It runs in every process, so
 * the common cases cost one pass over environ and nothing in libc: under `mocket run` (which
 * anchors the paths and points the bundle variables itself, MOCKET_SOCKET set) and in the
 * children of a bare LD_PRELOAD tree (whose bundle variables a parent pointed) nothing else;
 * without a per-user CA one stat(2) made without libc, and in a bare tree's first process two.
 * Each first call of a libc function costs a lazy symbol binding and fresh pages (measured:
 * printf alone doubled the stub's load cost), a first malloc the heap's set-up, and each page
 * touched for the first time a fault, so the changes are made in static storage on a page
 * already written and libc is called only for a relative path (getcwd) or a huge environment
 * (mmap). */

extern char **environ;

#define N_PATH_VARS (sizeof PATH_VARS / sizeof PATH_VARS[0])
#define N_BUNDLE_VARS (sizeof BUNDLE_VARS / sizeof BUNDLE_VARS[0])

/* The variables the constructor reads, from one pass over environ: NULL when unset or empty
 * (as mocket's Rust side treats them); the first definition wins, as with getenv. */
struct env_view {
    const char *path[N_PATH_VARS];
    const char *bundle[N_BUNDLE_VARS];
    const char *socket, *ca_cert, *ca_key, *xdg_data_home, *home;
};

/* The length of `prefix` when `s` starts with it, else 0. */
static size_t starts_with(const char *s, const char *prefix) {
    size_t i = 0;
    while (prefix[i] != '\0' && s[i] == prefix[i])
        i++;
    return prefix[i] == '\0' ? i : 0;
}

/* Points *slot at the value of `entry` ("NAME=value") when it defines `name` first. */
static void take(const char *entry, const char *name, const char **slot) {
    if (entry[0] != name[0] || *slot != NULL)
        return;
    size_t n = starts_with(entry, name);
    if (n > 0 && entry[n] == '=')
        *slot = entry + n + 1;
}

static const char *nonempty(const char *value) {
    return value != NULL && value[0] != '\0' ? value : NULL;
}

static void read_env(struct env_view *v) {
    *v = (struct env_view){0};
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        for (size_t i = 0; i < N_PATH_VARS; i++)
            take(*e, PATH_VARS[i], &v->path[i]);
        for (size_t i = 0; i < N_BUNDLE_VARS; i++)
            take(*e, BUNDLE_VARS[i], &v->bundle[i]);
        take(*e, SOCKET_VAR, &v->socket);
        take(*e, CA_CERT_VAR, &v->ca_cert);
        take(*e, CA_KEY_VAR, &v->ca_key);
        take(*e, "XDG_DATA_HOME", &v->xdg_data_home);
        take(*e, "HOME", &v->home);
    }
    for (size_t i = 0; i < N_PATH_VARS; i++)
        v->path[i] = nonempty(v->path[i]);
    for (size_t i = 0; i < N_BUNDLE_VARS; i++)
        v->bundle[i] = nonempty(v->bundle[i]);
    v->socket = nonempty(v->socket);
    v->ca_cert = nonempty(v->ca_cert);
    v->ca_key = nonempty(v->ca_key);
    v->xdg_data_home = nonempty(v->xdg_data_home);
    v->home = nonempty(v->home);
}

static int any_relative_path(const struct env_view *v) {
    for (size_t i = 0; i < N_PATH_VARS; i++)
        if (v->path[i] != NULL && v->path[i][0] != '/')
            return 1;
    return 0;
}

/* strlen, without its lazy binding: the first call of a libc function looks its symbol up
 * in every loaded object, touching pages of their symbol tables (build.rs also stops the
 * compiler from turning the copy loops here into memcpy calls). */
static size_t length(const char *s) {
    size_t n = 0;
    while (s[n] != '\0')
        n++;
    return n;
}

/* Appends `part` at out[*n]; 0 when it does not fit. */
static int append(char *out, size_t size, size_t *n, const char *part) {
    for (const char *c = part; *c != '\0'; c++) {
        if (*n + 1 >= size)
            return 0;
        out[(*n)++] = *c;
    }
    out[*n] = '\0';
    return 1;
}

/* The first `base_len` bytes of `base` joined with the relative `rel` as Rust's Path::join
 * does it: one '/' between them, none after an empty base or one ending in '/'. 0 when the
 * result does not fit. */
static int join_path(char *out, size_t size, const char *base, size_t base_len,
                     const char *rel) {
    if (base_len + 1 > size)
        return 0;
    for (size_t i = 0; i < base_len; i++)
        out[i] = base[i];
    size_t n = base_len;
    out[n] = '\0';
    int slash = base_len > 0 && base[base_len - 1] != '/';
    return (!slash || append(out, size, &n, "/")) && append(out, size, &n, rel);
}

/* stat(2) without libc where the architecture allows: no symbol binding, errno untouched. */
static int stat_quietly(const char *path, struct stat *st) {
#if defined(__x86_64__)
    long ret;
    register long flags __asm__("r10") = 0;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "0"((long)SYS_newfstatat), "D"((long)AT_FDCWD_), "S"(path), "d"(st),
                       "r"(flags)
                     : "rcx", "r11", "memory");
    return ret == 0 ? 0 : -1;
#elif defined(__aarch64__)
    register long nr __asm__("x8") = SYS_newfstatat;
    register long dirfd __asm__("x0") = AT_FDCWD_;
    register const char *file __asm__("x1") = path;
    register struct stat *buf __asm__("x2") = st;
    register long flags __asm__("x3") = 0;
    __asm__ volatile("svc 0"
                     : "+r"(dirfd)
                     : "r"(nr), "r"(file), "r"(buf), "r"(flags)
                     : "memory");
    return dirfd == 0 ? 0 : -1;
#else
    int saved = errno;
    int ret = stat(path, st);
    errno = saved;
    return ret;
#endif
}

static int is_file(const char *path) {
    struct stat st;
    return stat_quietly(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- The changes, made without malloc: glibc's setenv would make a process's first malloc
 * (the heap's set-up: measured +50 us on /bin/true). Each change is a "NAME=value" string,
 * written with the new environ array into a small static arena. The arena is the library's
 * last writable page, which the loader writes anyway (.got.plt, the zeroed tail of .data), so
 * the common case costs no page fault: one costs about 3 us on a VM, as much as the rest of the
 * constructor. shim/build.rs's link flags and the tests of tests/tests/preload_cost.rs keep the
 * writable data within that page. Paths are drafted in place, before it is known whether they
 * are kept, so the constructor needs no path buffer on the stack (each PATH_MAX buffer there
 * was a fresh stack page). What does not fit goes to an anonymous mapping. glibc's setenv and
 * putenv copy an environ they did not allocate when they need to grow it, and unsetenv edits
 * it in place. */

#define MAX_CHANGES (N_PATH_VARS + N_BUNDLE_VARS + 1)
/* The longest "NAME=value" change: a name and a joined path. */
#define CHANGE_MAX (2 * PATH_MAX + 64)
/* Room for a usual environment's changes and its environ array. */
#define ARENA_SIZE 2048

/* Where changes are written: `used` of `size` bytes are taken. */
struct region {
    char *base;
    size_t size, used;
};

static char arena_bytes[ARENA_SIZE] __attribute__((aligned(16)));
static struct region arena, spill;
/* The region of the last draft. */
static struct region *drafted;
static const char *changes[MAX_CHANGES];
static size_t n_changes;

/* `size` fresh bytes from the kernel (only when the arena is too small); NULL when refused. */
static void *map_anonymous(size_t size) {
    int saved = errno;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    errno = saved;
    return p == MAP_FAILED ? NULL : p;
}

/* The arena, then the spill mapping (made on first need, with room for every change). */
static struct region *region(int spilled) {
    if (!spilled) {
        arena.base = arena_bytes;
        arena.size = ARENA_SIZE;
        return &arena;
    }
    if (spill.base == NULL) {
        spill.base = map_anonymous(MAX_CHANGES * CHANGE_MAX);
        spill.size = spill.base != NULL ? MAX_CHANGES * CHANGE_MAX : 0;
    }
    return spill.base != NULL ? &spill : NULL;
}

/* Writes NAME=value, the value being the first `base_len` bytes of `base` joined with `rel`
 * (join_path), in free space without taking it: the value, or NULL when it does not fit (the
 * variable then stays as it is). commit() keeps it; the next draft overwrites it. */
static char *draft(const char *name, const char *base, size_t base_len, const char *rel) {
    if (n_changes == MAX_CHANGES)
        return NULL;
    for (int spilled = 0; spilled < 2; spilled++) {
        struct region *r = region(spilled);
        if (r == NULL)
            return NULL;
        char *out = r->base + r->used;
        size_t room = r->size - r->used, n = 0;
        room = room < CHANGE_MAX ? room : CHANGE_MAX;
        if (append(out, room, &n, name) && append(out, room, &n, "=") &&
            join_path(out + n, room - n, base, base_len, rel)) {
            drafted = r;
            return out + n;
        }
    }
    return NULL;
}

/* Whether `entry` ("NAME=value") defines the same variable as `change`. */
static int same_name(const char *entry, const char *change) {
    size_t i = 0;
    while (change[i] != '=' && entry[i] == change[i])
        i++;
    return change[i] == '=' && entry[i] == '=';
}

/* Keeps the last draft, whose value is `value`; a second change of a variable replaces the
 * first. */
static void commit(const char *value) {
    char *text = drafted->base + drafted->used;
    size_t i = 0;
    while (i < n_changes && !same_name(changes[i], text))
        i++;
    changes[i] = text;
    n_changes += i == n_changes;
    drafted->used += (size_t)(value - text) + length(value) + 1;
}

/* Records NAME=`base` joined with `rel` (`base` "" for `rel` alone): draft, then commit. */
static const char *change(const char *name, const char *base, const char *rel) {
    char *value = draft(name, base, length(base), rel);
    if (value != NULL)
        commit(value);
    return value;
}

/* Room for `count` pointers: in the arena when they fit, else mapped. */
static char **pointers(size_t count) {
    size_t at = (arena.used + sizeof(char *) - 1) & ~(sizeof(char *) - 1);
    if (at <= ARENA_SIZE && count <= (ARENA_SIZE - at) / sizeof(char *)) {
        arena.used = at + count * sizeof(char *);
        return (char **)(void *)(arena_bytes + at);
    }
    return map_anonymous(count * sizeof(char *));
}

/* Installs the recorded changes: environ with each changed variable replaced or appended;
 * putenv (which allocates) only when no memory can be had for it. */
static void apply_changes(void) {
    size_t n = 0;
    while (environ != NULL && environ[n] != NULL)
        n++;
    char **grown = pointers(n + n_changes + 1);
    if (grown == NULL) {
        int saved = errno;
        for (size_t i = 0; i < n_changes; i++)
            putenv((char *)changes[i]);
        errno = saved;
        return;
    }
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        size_t c = 0;
        while (c < n_changes && !same_name(environ[i], changes[c]))
            c++;
        if (c == n_changes)
            grown[out++] = environ[i];
    }
    for (size_t c = 0; c < n_changes; c++)
        grown[out++] = (char *)changes[c];
    grown[out] = NULL;
    environ = grown;
}

/* Whether `a` and `b` are the same string. */
static int same(const char *a, const char *b) {
    size_t n = starts_with(a, b);
    return a[n] == '\0' && (n > 0 || b[0] == '\0');
}

/* Makes relative paths in PATH_VARS absolute (Rust twin: preload_env::anchored_paths), in
 * the view too. A path too long to join, or no working directory, stays as it is. Not
 * inlined: its buffer is on the stack only when a path is relative. */
__attribute__((noinline)) static void anchor_relative_paths(struct env_view *v) {
    char cwd[PATH_MAX];
    int have_cwd = 0;
    for (size_t i = 0; i < N_PATH_VARS; i++) {
        if (v->path[i] == NULL || v->path[i][0] == '/')
            continue;
        if (!have_cwd && getcwd(cwd, sizeof cwd) == NULL)
            return;
        have_cwd = 1;
        const char *anchored = change(PATH_VARS[i], cwd, v->path[i]);
        if (anchored == NULL)
            continue;
        if (same(PATH_VARS[i], CA_CERT_VAR))
            v->ca_cert = anchored;
        if (same(PATH_VARS[i], CA_KEY_VAR))
            v->ca_key = anchored;
        v->path[i] = anchored;
    }
}

/* Drafts NODE_CA_VAR set to the CA certificate's path by mocket-control's rule
 * (ca_location): the path, or NULL when there is none. */
static char *draft_ca_cert(const struct env_view *v) {
    if (v->ca_cert != NULL && v->ca_key != NULL)
        return draft(NODE_CA_VAR, "", 0, v->ca_cert);
    if (v->ca_cert != NULL || v->ca_key != NULL)
        return NULL;
    if (v->xdg_data_home != NULL)
        return draft(NODE_CA_VAR, v->xdg_data_home, length(v->xdg_data_home),
                     CA_CERT_UNDER_XDG_DATA_HOME);
    if (v->home != NULL)
        return draft(NODE_CA_VAR, v->home, length(v->home), CA_CERT_UNDER_HOME);
    return NULL;
}

/* The length of `path`'s parent, as Path::parent: "/" for "/cert.pem", "" for "cert.pem". */
static size_t parent_length(const char *path) {
    size_t last = 0;
    int has_slash = 0;
    for (size_t i = 0; path[i] != '\0'; i++)
        if (path[i] == '/') {
            last = i;
            has_slash = 1;
        }
    return !has_slash ? 0 : last == 0 ? 1 : last;
}

/* Whether `path` is under the first `dir_len` bytes of `dir`, component-wise as Rust's
 * Path::starts_with. */
static int path_starts_with(const char *path, const char *dir, size_t dir_len) {
    if (dir_len == 0)
        return 1;
    size_t n = 0;
    while (n < dir_len && path[n] == dir[n])
        n++;
    return n == dir_len && (path[n] == '\0' || path[n] == '/' || dir[n - 1] == '/');
}

/* The bundle's file name (Rust: trust_names::bundle_file_name): FNV-1a 64 of the bundle
 * variables' values joined by '\n', unset ones empty. */
static void bundle_file_name(const struct env_view *v, char out[sizeof "bundle-0123456789abcdef.pem"]) {
    uint64_t hash = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < N_BUNDLE_VARS; i++) {
        if (i > 0)
            hash = (hash ^ '\n') * 0x100000001b3ULL;
        for (const char *c = v->bundle[i] ? v->bundle[i] : ""; *c != '\0'; c++)
            hash = (hash ^ (unsigned char)*c) * 0x100000001b3ULL;
    }
    size_t n = 0;
    append(out, sizeof "bundle-0123456789abcdef.pem", &n, "bundle-");
    for (int i = 0; i < 16; i++)
        out[n++] = "0123456789abcdef"[(hash >> (60 - 4 * i)) & 0xf];
    append(out, sizeof "bundle-0123456789abcdef.pem", &n, ".pem");
}

/* Under a bare LD_PRELOAD, points NODE_EXTRA_CA_CERTS at the mocket CA and the bundle
 * variables at the bundle beside it (Rust twin: preload_env::bundle_pointing). Whether a
 * parent already pointed them is decided from the environment first: the children of a bare
 * tree make no system call here. */
static void point_at_the_bundle(const struct env_view *v) {
    if (v->socket != NULL)
        return;
    const char *cert = draft_ca_cert(v);
    if (cert == NULL)
        return;
    size_t dir_len = parent_length(cert);
    for (size_t i = 0; i < N_BUNDLE_VARS; i++)
        if (v->bundle[i] != NULL && path_starts_with(v->bundle[i], cert, dir_len))
            return; /* a parent already pointed them */
    if (!is_file(cert))
        return;
    commit(cert);
    char name[sizeof "bundle-0123456789abcdef.pem"];
    bundle_file_name(v, name);
    const char *bundle = draft(BUNDLE_VARS[0], cert, dir_len, name);
    if (bundle == NULL || !is_file(bundle))
        return;
    commit(bundle);
    for (size_t i = 1; i < N_BUNDLE_VARS; i++)
        change(BUNDLE_VARS[i], "", bundle);
}

__attribute__((constructor)) static void mocket_stub_init(void) {
    struct env_view v;
    read_env(&v);
    if (any_relative_path(&v)) {
        int saved = errno; /* getcwd's */
        anchor_relative_paths(&v);
        errno = saved;
    }
    point_at_the_bundle(&v);
    if (n_changes > 0)
        apply_changes();
}
