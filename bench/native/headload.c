/*
 * headload: a minimal closed-loop HTTP/1.1 keep-alive load generator, used only
 * for HEAD requests, because wrk 4.1.0 cannot do HEAD (its response parser waits
 * for Content-Length bytes of body that a HEAD response never sends, and hangs).
 *
 * Same model as wrk: T threads, C connections split between them, each
 * connection sends one request, waits for the full response, sends the next.
 * Latency = time from write of the request to the end of the response.
 * It also supports GET (body framed by Content-Length only) so the tool can be
 * cross-checked against wrk on the same URL.
 *
 * usage: headload HOST PORT PATH THREADS CONNS SECONDS METHOD [HEADER ...]
 * prints one line: BENCHJSON {...} (same fields as bench/lua/common.lua).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUFSZ 65536

typedef struct {
  int fd;
  uint64_t start_ns;
  size_t used;        /* bytes of header buffered so far */
  long body_left;     /* body bytes still to read (GET), -1 while in headers */
  int status;
  char buf[BUFSZ];
} conn_t;

typedef struct {
  int nconns;
  uint64_t requests, bytes;
  uint64_t err_connect, err_read, err_write, err_status, err_timeout;
  uint32_t *lat; /* microseconds */
  size_t nlat, caplat;
  pthread_t tid;
} thread_t;

static struct sockaddr_in addr;
static char *request;
static size_t request_len;
static int is_head;
static uint64_t deadline_ns;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void record(thread_t *t, uint64_t ns) {
  if (t->nlat == t->caplat) {
    t->caplat = t->caplat ? t->caplat * 2 : 65536;
    t->lat = realloc(t->lat, t->caplat * sizeof(uint32_t));
    if (!t->lat) { perror("realloc"); exit(2); }
  }
  uint64_t us = ns / 1000;
  t->lat[t->nlat++] = us > 0xffffffffu ? 0xffffffffu : (uint32_t)us;
}

static int open_conn(int ep, conn_t *c) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { close(fd); return -1; }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->fd = fd;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  return 0;
}

/* requests are small: a blocking-style full write on a fresh/idle socket */
static int send_req(conn_t *c) {
  size_t off = 0;
  c->start_ns = now_ns();
  c->used = 0;
  c->body_left = -1;
  c->status = 0;
  while (off < request_len) {
    ssize_t n = write(c->fd, request + off, request_len - off);
    if (n < 0) { if (errno == EINTR || errno == EAGAIN) continue; return -1; }
    off += (size_t)n;
  }
  return 0;
}

static long content_length(const char *hdr, size_t len) {
  const char *p = hdr;
  const char *end = hdr + len;
  while (p < end) {
    const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
    if (!eol) break;
    if ((size_t)(eol - p) > 15 && strncasecmp(p, "content-length:", 15) == 0) return strtol(p + 15, NULL, 10);
    p = eol + 2;
  }
  return 0;
}

/* returns 1 when a full response was consumed, 0 if more is needed, -1 on error */
static int on_data(thread_t *t, conn_t *c, const char *data, size_t n) {
  t->bytes += n;
  if (c->body_left >= 0) {
    c->body_left -= (long)n;
    return c->body_left <= 0 ? 1 : 0;
  }
  if (c->used + n > BUFSZ) return -1;
  memcpy(c->buf + c->used, data, n);
  c->used += n;
  char *eoh = memmem(c->buf, c->used, "\r\n\r\n", 4);
  if (!eoh) return 0;
  size_t hlen = (size_t)(eoh - c->buf) + 4;
  if (c->used < 12) return -1;
  c->status = atoi(c->buf + 9);
  long body = is_head ? 0 : content_length(c->buf, hlen);
  c->body_left = body - (long)(c->used - hlen);
  return c->body_left <= 0 ? 1 : 0;
}

static void *run(void *arg) {
  thread_t *t = arg;
  int ep = epoll_create1(0);
  conn_t *conns = calloc((size_t)t->nconns, sizeof(conn_t));
  struct epoll_event *evs = calloc((size_t)t->nconns, sizeof(struct epoll_event));
  char *rbuf = malloc(1 << 20);
  int active = 0;
  for (int i = 0; i < t->nconns; i++) {
    conns[i].fd = -1;
    if (open_conn(ep, &conns[i]) != 0) { t->err_connect++; conns[i].fd = -1; continue; }
    if (send_req(&conns[i]) != 0) { t->err_write++; continue; }
    active++;
  }
  while (active > 0) {
    int n = epoll_wait(ep, evs, t->nconns, 100);
    if (n < 0 && errno != EINTR) break;
    uint64_t now = now_ns();
    if (n <= 0 && now > deadline_ns + 10000000000ull) { t->err_timeout += (uint64_t)active; break; }
    for (int i = 0; i < n; i++) {
      conn_t *c = evs[i].data.ptr;
      ssize_t r = read(c->fd, rbuf, 1 << 20);
      int done;
      if (r <= 0) {
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        t->err_read++;
        done = -1;
      } else {
        done = on_data(t, c, rbuf, (size_t)r);
      }
      if (done == 0) continue;
      now = now_ns();
      if (done == 1) {
        t->requests++;
        record(t, now - c->start_ns);
        if (c->status < 200 || c->status > 399) t->err_status++;
      }
      if (done == -1) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
        if (now >= deadline_ns || open_conn(ep, c) != 0) { active--; continue; }
      }
      if (now >= deadline_ns) { active--; continue; }
      if (send_req(c) != 0) { t->err_write++; active--; }
    }
  }
  for (int i = 0; i < t->nconns; i++) if (conns[i].fd >= 0) close(conns[i].fd);
  free(conns); free(evs); free(rbuf);
  close(ep);
  return NULL;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 8) {
    fprintf(stderr, "usage: headload HOST PORT PATH THREADS CONNS SECONDS METHOD [HEADER ...]\n");
    return 2;
  }
  const char *host = argv[1];
  int port = atoi(argv[2]);
  const char *path = argv[3];
  int nthreads = atoi(argv[4]);
  int nconns = atoi(argv[5]);
  double secs = atof(argv[6]);
  const char *method = argv[7];
  is_head = strcmp(method, "HEAD") == 0;
  if (nthreads < 1 || nconns < nthreads || secs <= 0) { fprintf(stderr, "bad arguments\n"); return 2; }

  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) { fprintf(stderr, "bad host (IPv4 only)\n"); return 2; }

  size_t cap = 4096 + strlen(path);
  for (int i = 8; i < argc; i++) cap += strlen(argv[i]) + 2;
  request = malloc(cap);
  int len = snprintf(request, cap, "%s %s HTTP/1.1\r\nHost: %s:%d\r\n", method, path, host, port);
  for (int i = 8; i < argc; i++) len += snprintf(request + len, cap - (size_t)len, "%s\r\n", argv[i]);
  len += snprintf(request + len, cap - (size_t)len, "\r\n");
  request_len = (size_t)len;

  thread_t *ts = calloc((size_t)nthreads, sizeof(thread_t));
  uint64_t start = now_ns();
  deadline_ns = start + (uint64_t)(secs * 1e9);
  for (int i = 0; i < nthreads; i++) {
    ts[i].nconns = nconns / nthreads + (i < nconns % nthreads ? 1 : 0);
    pthread_create(&ts[i].tid, NULL, run, &ts[i]);
  }
  thread_t sum = {0};
  for (int i = 0; i < nthreads; i++) {
    pthread_join(ts[i].tid, NULL);
    sum.requests += ts[i].requests; sum.bytes += ts[i].bytes;
    sum.err_connect += ts[i].err_connect; sum.err_read += ts[i].err_read;
    sum.err_write += ts[i].err_write; sum.err_status += ts[i].err_status;
    sum.err_timeout += ts[i].err_timeout;
    sum.nlat += ts[i].nlat;
  }
  uint64_t dur_us = (now_ns() - start) / 1000;
  uint32_t *all = malloc((sum.nlat ? sum.nlat : 1) * sizeof(uint32_t));
  size_t k = 0;
  double total = 0;
  for (int i = 0; i < nthreads; i++) {
    for (size_t j = 0; j < ts[i].nlat; j++) { all[k++] = ts[i].lat[j]; total += ts[i].lat[j]; }
  }
  qsort(all, sum.nlat, sizeof(uint32_t), cmp_u32);
#define PCT(p) (sum.nlat ? all[(size_t)((double)(sum.nlat - 1) * (p) / 100.0)] : 0)
  printf("BENCHJSON {\"requests\":%llu,\"duration_us\":%llu,\"bytes\":%llu,\"p50_us\":%u,\"p90_us\":%u,"
         "\"p99_us\":%u,\"mean_us\":%.1f,\"max_us\":%u,\"err_connect\":%llu,\"err_read\":%llu,"
         "\"err_write\":%llu,\"err_status\":%llu,\"err_timeout\":%llu}\n",
         (unsigned long long)sum.requests, (unsigned long long)dur_us, (unsigned long long)sum.bytes,
         PCT(50), PCT(90), PCT(99), sum.nlat ? total / (double)sum.nlat : 0.0,
         sum.nlat ? all[sum.nlat - 1] : 0, (unsigned long long)sum.err_connect,
         (unsigned long long)sum.err_read, (unsigned long long)sum.err_write,
         (unsigned long long)sum.err_status, (unsigned long long)sum.err_timeout);
  return 0;
}
