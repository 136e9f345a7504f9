/* A small HTTP/1.1 load generator for bench/dataplane.py (compiled there with the machine's cc).
 *
 *   loadgen HOST PORT HOSTHEADER PATH CONNECTIONS RATE SECONDS WARMUP
 *
 * RATE > 0: open loop. Each keep-alive connection follows its own fixed timetable (RATE/CONNECTIONS
 * requests per second, start times spread evenly), and every latency is measured from the request's
 * *intended* send time, so a response that arrives late also delays - and is charged to - the requests
 * queued behind it (wrk2's correction for coordinated omission). RATE = 0: closed loop, each connection
 * sends its next request as soon as the previous response is complete (maximum throughput).
 *
 * Responses must carry Content-Length (no chunked encoding). Samples from the first WARMUP seconds are
 * discarded. Prints one JSON object: achieved rate, error count, latency percentiles in milliseconds.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int fd;
    int busy;              /* a request is in flight */
    int64_t intended;      /* ns: when the in-flight (or next) request was meant to be sent */
    int64_t interval;      /* ns between requests of this connection (open loop) */
    char buf[65536];
    size_t have;
} conn_t;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
    exit(2);
}

static int open_conn(const char *host, int port) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "loadgen: bad IPv4 address %s\n", host);
        exit(2);
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Length of a complete response at the start of buf (0: incomplete); *status gets its status code. */
static size_t complete_response(const char *buf, size_t n, int *status) {
    const char *end = memmem(buf, n, "\r\n\r\n", 4);
    if (end == NULL) return 0;
    size_t head = (size_t)(end - buf) + 4;
    long length = -1;
    for (const char *p = buf; p < end; p++) {
        if ((p == buf || p[-1] == '\n') && strncasecmp(p, "content-length:", 15) == 0) length = strtol(p + 15, NULL, 10);
    }
    if (length < 0) {
        fprintf(stderr, "loadgen: response without Content-Length\n");
        exit(2);
    }
    if (n < head + (size_t)length) return 0;
    *status = (int)strtol(buf + 9, NULL, 10); /* "HTTP/1.1 200" */
    return head + (size_t)length;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double pct(const int64_t *v, size_t n, double q) {
    if (n == 0) return 0.0;
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return (double)v[i] / 1e6;
}

int main(int argc, char **argv) {
    if (argc != 9) {
        fprintf(stderr, "usage: loadgen HOST PORT HOSTHEADER PATH CONNECTIONS RATE SECONDS WARMUP\n");
        return 2;
    }
    const char *host = argv[1], *hosthdr = argv[3], *path = argv[4];
    int port = atoi(argv[2]), nconn = atoi(argv[5]);
    double rate = atof(argv[6]), seconds = atof(argv[7]), warmup = atof(argv[8]);
    char req[1024];
    int reqlen = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: mizzen-loadgen\r\n\r\n", path, hosthdr);

    int ep = epoll_create1(0), tfd = timerfd_create(CLOCK_MONOTONIC, 0);
    if (ep < 0 || tfd < 0) die("epoll/timerfd");
    struct epoll_event tev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev);

    conn_t *conns = calloc((size_t)nconn, sizeof(conn_t));
    size_t cap = 1 << 16, nsamples = 0;
    int64_t *samples = malloc(cap * sizeof(int64_t));
    long errors = 0, done = 0;
    int64_t start = now_ns() + 20000000; /* 20 ms to get going */
    int64_t warm_end = start + (int64_t)(warmup * 1e9), stop = warm_end + (int64_t)(seconds * 1e9);
    for (int i = 0; i < nconn; i++) {
        conns[i].fd = open_conn(host, port);
        conns[i].interval = rate > 0 ? (int64_t)(1e9 * nconn / rate) : 0;
        conns[i].intended = start + (rate > 0 ? conns[i].interval * i / nconn : 0);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
    }

    for (;;) {
        int64_t t = now_ns(), next = INT64_MAX;
        if (t >= stop) break;
        for (int i = 0; i < nconn; i++) { /* send every request that is due on an idle connection */
            conn_t *c = &conns[i];
            if (c->busy) continue;
            if (rate <= 0) c->intended = t;
            if (c->intended <= t) {
                if (write(c->fd, req, (size_t)reqlen) != reqlen) die("write");
                c->busy = 1;
            } else if (c->intended < next) {
                next = c->intended;
            }
        }
        if (next != INT64_MAX) {
            struct itimerspec its = {.it_value = {.tv_sec = next / 1000000000, .tv_nsec = next % 1000000000}};
            timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
        }
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, 100);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        for (int k = 0; k < n; k++) {
            uint32_t id = evs[k].data.u32;
            if (id == UINT32_MAX) {
                uint64_t expirations;
                if (read(tfd, &expirations, sizeof expirations) < 0 && errno != EAGAIN) die("timerfd read");
                continue;
            }
            conn_t *c = &conns[id];
            ssize_t got = read(c->fd, c->buf + c->have, sizeof c->buf - c->have);
            if (got <= 0) {
                fprintf(stderr, "loadgen: connection %u closed by the server\n", id);
                return 3;
            }
            c->have += (size_t)got;
            int status = 0;
            size_t used = complete_response(c->buf, c->have, &status);
            if (used == 0) continue;
            memmove(c->buf, c->buf + used, c->have - used);
            c->have -= used;
            int64_t end = now_ns();
            if (c->intended >= warm_end) {
                if (status != 200) errors++;
                if (nsamples == cap) samples = realloc(samples, (cap *= 2) * sizeof(int64_t));
                samples[nsamples++] = end - c->intended;
                done++;
            }
            c->busy = 0;
            c->intended += c->interval;
        }
    }
    qsort(samples, nsamples, sizeof(int64_t), cmp_i64);
    printf("{\"requests\": %ld, \"errors\": %ld, \"rps\": %.1f, \"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, "
           "\"p999\": %.3f, \"max\": %.3f}\n",
           done, errors, (double)done / seconds, pct(samples, nsamples, 0.5), pct(samples, nsamples, 0.9),
           pct(samples, nsamples, 0.99), pct(samples, nsamples, 0.999), pct(samples, nsamples, 1.0));
    return 0;
}
