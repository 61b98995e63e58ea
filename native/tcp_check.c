/*
 * tcp_check: the agent's tcp checks in native code, thousands a second at HAProxy's cost.
 *
 * Issue 3 asks the agent to spend at most 1.5x HAProxy's CPU on tcp checks. A check in Node
 * costs two JavaScript objects (a TCP handle and a connect request), two C++ wrappers and a
 * callback per probe, and it cannot set TCP_QUICKACK, so every check completes the handshake.
 * Here a check is a file descriptor in a private epoll set, and results reach JavaScript in
 * batches: one call per loop iteration for every check that finished.
 *
 * Each check is HAProxy's plain `check`: a non-blocking socket with TCP_QUICKACK off, so the
 * kernel holds back the ACK of the SYN-ACK; once connect() reports success the socket is closed
 * with SO_LINGER 0. The RST goes out before the ACK: the backend never completes the handshake
 * (no child socket, no accept, nothing logged) and the load balancer keeps no TIME_WAIT.
 *
 * JavaScript side: checks/tcp-native.ts. API (one engine per Node environment):
 *   init(onResults, results)  results: Int32Array of 2*BATCH; onResults(count) is called with
 *                             results[2i] = token, results[2i+1] = 0 or -errno. 0 / -errno.
 *   start(token, ip, port)    begins a check; returns its fd (>= 0, pass it to abort) or -errno
 *                             when it failed at once (bad address, no fds, unreachable).
 *   abort(fd)                 ends a check that has not reported (a timeout, a cancel).
 *   inflight()                checks started and not yet reported or aborted.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* Results per call into JavaScript; more ready checks wait for the next round. */
#define BATCH 1024
/* Rounds per wake-up, so a flood of results cannot starve the rest of the loop. */
#define MAX_ROUNDS 8

typedef struct {
  napi_env env;
  int epfd;
  uv_poll_t poll;
  uint32_t inflight;
  napi_ref on_results;
  napi_ref results_ref;
  int32_t *results;
  napi_async_context async;
  napi_async_cleanup_hook_handle cleanup;
  struct epoll_event events[BATCH];
} Engine;

static Engine *engine_of(napi_env env) {
  void *data = NULL;
  napi_get_instance_data(env, &data);
  return (Engine *)data;
}

static napi_value int_value(napi_env env, int32_t value) {
  napi_value out;
  napi_create_int32(env, value, &out);
  return out;
}

/* The poll handle is referenced only while checks are in flight: idle checks keep no process alive. */
static void update_ref(Engine *e) {
  if (e->inflight > 0) uv_ref((uv_handle_t *)&e->poll);
  else uv_unref((uv_handle_t *)&e->poll);
}

/* Closes without FIN: a connected socket sends RST and leaves no TIME_WAIT behind. */
static void close_reset(int fd) {
  struct linger lg = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(fd);
}

static void deliver(Engine *e, int count) {
  napi_env env = e->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, argv[1];
  if (napi_get_reference_value(env, e->on_results, &fn) == napi_ok && fn != NULL) {
    napi_get_global(env, &recv); /* make_callback wants an object as the receiver */
    argv[0] = int_value(env, count);
    /* make_callback, not call_function: microtasks and nextTicks run after it, as for any I/O. */
    if (napi_make_callback(env, e->async, recv, fn, 1, argv, NULL) != napi_ok) {
      /* A throwing handler is an uncaught exception, as from any I/O callback, not a pending one. */
      bool pending = false;
      napi_value error;
      napi_is_exception_pending(env, &pending);
      if (pending && napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
    }
  }
  napi_close_handle_scope(env, scope);
}

static void on_ready(uv_poll_t *poll, int status, int events) {
  (void)status;
  (void)events;
  Engine *e = (Engine *)poll->data;
  for (int round = 0; round < MAX_ROUNDS; round++) {
    int n = epoll_wait(e->epfd, e->events, BATCH, 0);
    if (n <= 0) return;
    for (int i = 0; i < n; i++) {
      int fd = (int)(e->events[i].data.u64 >> 32);
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      if (err == 0) close_reset(fd);
      else close(fd);
      e->results[2 * i] = (int32_t)(uint32_t)e->events[i].data.u64;
      e->results[2 * i + 1] = -err;
    }
    e->inflight -= (uint32_t)n;
    update_ref(e);
    deliver(e, n);
    if (n < BATCH) return;
  }
}

static void free_engine(uv_handle_t *handle) { free(handle->data); }

static void on_closed(uv_handle_t *handle) {
  Engine *e = (Engine *)handle->data;
  napi_remove_async_cleanup_hook(e->cleanup);
  free(e);
}

/* Environment teardown: the checks in flight are dropped with the process. */
static void on_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  (void)handle;
  Engine *e = (Engine *)arg;
  napi_set_instance_data(e->env, NULL, NULL, NULL); /* later calls find no engine, not a freed one */
  uv_poll_stop(&e->poll);
  close(e->epfd);
  napi_delete_reference(e->env, e->on_results);
  napi_delete_reference(e->env, e->results_ref);
  napi_async_destroy(e->env, e->async);
  uv_close((uv_handle_t *)&e->poll, on_closed);
}

static napi_value js_init(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) return int_value(env, -EINVAL);
  if (engine_of(env) != NULL) return int_value(env, -EALREADY);
  napi_valuetype type;
  bool is_typed = false;
  napi_typeof(env, argv[0], &type);
  napi_is_typedarray(env, argv[1], &is_typed);
  if (type != napi_function || !is_typed) return int_value(env, -EINVAL);
  napi_typedarray_type array_type;
  size_t length;
  void *data;
  napi_get_typedarray_info(env, argv[1], &array_type, &length, &data, NULL, NULL);
  if (array_type != napi_int32_array || length < 2 * BATCH) return int_value(env, -EINVAL);

  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return int_value(env, -EINVAL);
  Engine *e = calloc(1, sizeof *e);
  if (e == NULL) return int_value(env, -ENOMEM);
  e->env = env;
  e->results = data;
  e->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (e->epfd < 0) {
    int err = errno;
    free(e);
    return int_value(env, -err);
  }
  int err = uv_poll_init(loop, &e->poll, e->epfd);
  if (err != 0) {
    close(e->epfd);
    free(e);
    return int_value(env, err);
  }
  e->poll.data = e;
  err = uv_poll_start(&e->poll, UV_READABLE, on_ready);
  if (err != 0) {
    /* The loop knows the handle now: it is freed once closed, not before. */
    close(e->epfd);
    uv_close((uv_handle_t *)&e->poll, free_engine);
    return int_value(env, err);
  }
  napi_value name;
  napi_create_string_utf8(env, "ha-agent:tcp-check", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &e->async);
  napi_create_reference(env, argv[0], 1, &e->on_results);
  napi_create_reference(env, argv[1], 1, &e->results_ref);
  napi_set_instance_data(env, e, NULL, NULL);
  napi_add_async_cleanup_hook(env, on_cleanup, e, &e->cleanup);
  update_ref(e);
  return int_value(env, 0);
}

static napi_value js_start(napi_env env, napi_callback_info info) {
  Engine *e = engine_of(env);
  if (e == NULL) return int_value(env, -ENOTCONN);
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3) return int_value(env, -EINVAL);
  uint32_t token;
  int32_t port;
  char ip[64];
  size_t ip_len;
  if (napi_get_value_uint32(env, argv[0], &token) != napi_ok) return int_value(env, -EINVAL);
  /* An address that fills the buffer may have been cut short: refused, never guessed at. */
  if (napi_get_value_string_utf8(env, argv[1], ip, sizeof ip, &ip_len) != napi_ok || ip_len >= sizeof ip - 1) {
    return int_value(env, -EINVAL);
  }
  if (napi_get_value_int32(env, argv[2], &port) != napi_ok || port <= 0 || port > 65535) return int_value(env, -EINVAL);

  struct sockaddr_storage addr;
  socklen_t addr_len;
  int family;
  if (uv_ip4_addr(ip, port, (struct sockaddr_in *)&addr) == 0) {
    family = AF_INET;
    addr_len = sizeof(struct sockaddr_in);
  } else if (uv_ip6_addr(ip, port, (struct sockaddr_in6 *)&addr) == 0) {
    family = AF_INET6;
    addr_len = sizeof(struct sockaddr_in6);
  } else {
    return int_value(env, -EINVAL);
  }

  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return int_value(env, -errno);
  /* Best effort: without it the check still holds, it just completes the handshake. */
  int off = 0;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &off, sizeof off);
  if (connect(fd, (struct sockaddr *)&addr, addr_len) != 0 && errno != EINPROGRESS) {
    int err = errno;
    close(fd);
    return int_value(env, -err);
  }
  /* Connected at once or in progress: either way the result comes from the epoll set. */
  struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = ((uint64_t)(uint32_t)fd << 32) | token};
  if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    int err = errno;
    close_reset(fd);
    return int_value(env, -err);
  }
  if (e->inflight++ == 0) update_ref(e);
  return int_value(env, fd);
}

static napi_value js_abort(napi_env env, napi_callback_info info) {
  Engine *e = engine_of(env);
  if (e == NULL) return int_value(env, -ENOTCONN);
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    return int_value(env, -EINVAL);
  }
  /* close() takes the fd out of the epoll set: no result will come for it. */
  close_reset(fd);
  if (e->inflight > 0 && --e->inflight == 0) update_ref(e);
  return int_value(env, 0);
}

static napi_value js_inflight(napi_env env, napi_callback_info info) {
  (void)info;
  Engine *e = engine_of(env);
  return int_value(env, e == NULL ? 0 : (int32_t)e->inflight);
}

NAPI_MODULE_INIT() {
  static const struct { const char *name; napi_callback fn; } methods[] = {
    {"init", js_init}, {"start", js_start}, {"abort", js_abort}, {"inflight", js_inflight},
  };
  for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
    napi_value fn;
    napi_create_function(env, methods[i].name, NAPI_AUTO_LENGTH, methods[i].fn, NULL, &fn);
    napi_set_named_property(env, exports, methods[i].name, fn);
  }
  napi_value batch;
  napi_create_int32(env, BATCH, &batch);
  napi_set_named_property(env, exports, "BATCH", batch);
  return exports;
}
