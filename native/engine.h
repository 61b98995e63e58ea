/*
 * engine.h: what every native check engine shares (tcp_check.c, http_check.c), so each engine is
 * only its protocol. A check is a non-blocking socket in a private epoll set, driven from one
 * uv_poll on that set, and results reach JavaScript in batches: one call per loop iteration for
 * every check that finished.
 *
 * The engine owns its sockets. JavaScript names a check by a token, never by its fd: an fd
 * number is reused by the kernel as soon as it is closed (for a Redis connection, the control
 * socket), so closing "the check's fd" after the check has ended would close someone else's
 * socket. A token is generation * SLOTS + slot; a slot's generation moves on each time its check
 * ends, so the token of an ended check names nothing and aborting it does nothing.
 *
 * Shared API (one engine per Node environment and addon):
 *   init(onResults, results)  results: Float64Array of 2*BATCH; onResults(count) is called with
 *                             results[2i] = token, results[2i+1] = the engine's result. 0 / -errno.
 *   abort(token)              ends a check that has not reported (a timeout, a cancel): 0, or
 *                             -ENOENT when the token names no check in flight (nothing is done).
 *   inflight()                checks started and not yet reported or aborted.
 *   BATCH, SLOTS              token % SLOTS is the token's slot: JavaScript may index by it.
 * A Node-API call that fails throws (in init, a JavaScript error naming the call).
 *
 * The including file defines ENGINE_NAME, `SlotState` (what a check holds besides its fd), then
 * includes this file and defines:
 *   check_event(e, slot, events, &result)  the socket is ready: true when the check has ended,
 *                                          its fd closed and *result set; false to go on waiting.
 *   check_drop(state)                      frees what a check held (it has ended, or teardown).
 *   ENGINE_METHODS / ENGINE_CONSTANTS      its own exports, among them its start().
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#ifndef __linux__
#error "the check engines need Linux (epoll, TCP_QUICKACK); native/build.sh skips them elsewhere"
#endif

#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* Results per call into JavaScript; more ready checks wait for the next round. */
#define BATCH 1024
/* Rounds per wake-up, so a flood of results cannot starve the rest of the loop. */
#define MAX_ROUNDS 8
/* Checks in flight at most (more than any fd limit allows); leaves 32 bits of generation in a
 * token that a double holds exactly (2^53). */
#define SLOT_BITS 21
#define SLOTS (1u << SLOT_BITS)
#define FIRST_SLOTS 64
#define NO_SLOT UINT32_MAX

typedef struct {
  int fd; /* -1 while free */
  uint32_t gen;
  uint32_t next_free;
  SlotState state;
} Slot;

typedef struct {
  napi_env env;
  int epfd;
  uv_poll_t poll;
  uint32_t inflight;
  /* Free slots are reused oldest first, so a slot's generation moves on as slowly as it can. */
  Slot *slots;
  uint32_t nslots;
  uint32_t free_head;
  uint32_t free_tail;
  napi_ref on_results;
  napi_ref results_ref;
  double *results;
  napi_async_context async;
  napi_async_cleanup_hook_handle cleanup;
  struct epoll_event events[BATCH];
} Engine;

typedef struct {
  const char *name;
  napi_callback fn;
} Method;

typedef struct {
  const char *name;
  int32_t value;
} Constant;

static bool check_event(Engine *e, uint32_t slot, uint32_t events, double *result);
static void check_drop(SlotState *state);

/* Throws for a Node-API call that failed, naming it, unless an exception is pending already. */
static bool napi_failed(napi_env env, napi_status status, const char *call) {
  if (status == napi_ok) return false;
  /* Read before any other call: each Node-API call overwrites the last error. */
  const napi_extended_error_info *info = NULL;
  char why[160] = "unknown";
  if (napi_get_last_error_info(env, &info) == napi_ok && info != NULL && info->error_message != NULL) {
    snprintf(why, sizeof why, "%s", info->error_message);
  }
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return true;
  char message[256];
  snprintf(message, sizeof message, ENGINE_NAME ": %s failed: %s (status %d)", call, why, (int)status);
  (void)napi_throw_error(env, NULL, message); /* nothing more to do if even this fails */
  return true;
}
#define FAILED(env, call) napi_failed((env), (call), #call)

static napi_value number_value(napi_env env, double value) {
  napi_value out;
  if (FAILED(env, napi_create_double(env, value, &out))) return NULL;
  return out;
}

/* The engine of this environment, or NULL (with an exception pending when the lookup failed). */
static Engine *engine_of(napi_env env) {
  void *data = NULL;
  if (FAILED(env, napi_get_instance_data(env, &data))) return NULL;
  return (Engine *)data;
}

static double token_of(uint32_t slot, uint32_t gen) { return (double)gen * SLOTS + slot; }

/* The poll handle is referenced only while checks are in flight: idle checks keep no process alive. */
static void update_ref(Engine *e) {
  if (e->inflight > 0) uv_ref((uv_handle_t *)&e->poll);
  else uv_unref((uv_handle_t *)&e->poll);
}

/* Closes without FIN: a connected socket sends RST and leaves no TIME_WAIT behind. */
static void close_reset(int fd) {
  struct linger lg = {1, 0};
  (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg); /* a plain close is the fallback */
  close(fd);
}

static void push_free(Engine *e, uint32_t slot) {
  e->slots[slot].next_free = NO_SLOT;
  if (e->free_tail == NO_SLOT) e->free_head = slot;
  else e->slots[e->free_tail].next_free = slot;
  e->free_tail = slot;
}

/* More slots, all free: false when out of memory or at SLOTS. */
static bool grow_slots(Engine *e) {
  uint32_t n = e->nslots == 0 ? FIRST_SLOTS : e->nslots * 2;
  if (n > SLOTS || n <= e->nslots) return false;
  Slot *slots = realloc(e->slots, n * sizeof *slots);
  if (slots == NULL) return false;
  e->slots = slots;
  for (uint32_t i = e->nslots; i < n; i++) {
    memset(&slots[i], 0, sizeof slots[i]);
    slots[i].fd = -1;
    slots[i].gen = 1; /* tokens are never 0 or below SLOTS */
    push_free(e, i);
  }
  e->nslots = n;
  return true;
}

/* The slot is free again, and every token that named it is stale from now on. */
static void release_slot(Engine *e, uint32_t slot) {
  Slot *s = &e->slots[slot];
  check_drop(&s->state);
  s->fd = -1;
  if (++s->gen == 0) s->gen = 1;
  push_free(e, slot);
  if (--e->inflight == 0) update_ref(e);
}

/* The slot a token names while its check is in flight, or NO_SLOT. */
static uint32_t slot_of(Engine *e, double token) {
  if (!(token >= SLOTS && token < 9007199254740992.0) || token != floor(token)) return NO_SLOT;
  uint64_t t = (uint64_t)token;
  uint32_t slot = (uint32_t)(t & (SLOTS - 1));
  uint32_t gen = (uint32_t)(t >> SLOT_BITS);
  if (slot >= e->nslots || e->slots[slot].fd < 0 || e->slots[slot].gen != gen) return NO_SLOT;
  return slot;
}

/* The epoll key of a slot: its generation too, so an event for an ended check is told apart. */
static uint64_t key_of(Engine *e, uint32_t slot) { return ((uint64_t)e->slots[slot].gen << 32) | slot; }

/* A free slot, or NO_SLOT when none is to be had (no memory, or SLOTS in flight). */
static uint32_t free_slot(Engine *e) {
  if (e->free_head == NO_SLOT && !grow_slots(e)) return NO_SLOT;
  return e->free_head;
}

/*
 * Puts a connecting socket in the free slot `slot` (from free_slot, with no call in between that
 * could take it) and in the epoll set: 0, or -errno with the socket closed. Its state is set by
 * the caller after a success.
 */
static int engine_add(Engine *e, uint32_t slot, int fd, uint32_t events) {
  Slot *s = &e->slots[slot];
  struct epoll_event ev = {.events = events, .data.u64 = key_of(e, slot)};
  if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    int err = errno;
    close_reset(fd);
    return -err;
  }
  e->free_head = s->next_free;
  if (e->free_head == NO_SLOT) e->free_tail = NO_SLOT;
  s->fd = fd;
  if (e->inflight++ == 0) update_ref(e);
  return 0;
}

/* Waits for other events on a check's socket: 0 or -errno. */
static inline int engine_watch(Engine *e, uint32_t slot, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.u64 = key_of(e, slot)};
  return epoll_ctl(e->epfd, EPOLL_CTL_MOD, e->slots[slot].fd, &ev) == 0 ? 0 : -errno;
}

/*
 * Reads (ip, port) into a socket address: 0, or -EINVAL for anything but an IPv4 or IPv6 literal
 * and a port in 1..65535 (a value of another type included).
 */
static int read_address(napi_env env, napi_value ip_value, napi_value port_value, struct sockaddr_storage *addr,
                        socklen_t *addr_len, int *family) {
  char ip[64];
  size_t ip_len;
  int32_t port;
  /* An address that fills the buffer may have been cut short: refused, never guessed at. */
  if (napi_get_value_string_utf8(env, ip_value, ip, sizeof ip, &ip_len) != napi_ok || ip_len >= sizeof ip - 1) return -EINVAL;
  if (napi_get_value_int32(env, port_value, &port) != napi_ok || port <= 0 || port > 65535) return -EINVAL;
  if (uv_ip4_addr(ip, port, (struct sockaddr_in *)addr) == 0) {
    *family = AF_INET;
    *addr_len = sizeof(struct sockaddr_in);
  } else if (uv_ip6_addr(ip, port, (struct sockaddr_in6 *)addr) == 0) {
    *family = AF_INET6;
    *addr_len = sizeof(struct sockaddr_in6);
  } else {
    return -EINVAL;
  }
  return 0;
}

/* A non-blocking socket connecting to addr: its fd, or -errno. */
static int connect_socket(const struct sockaddr_storage *addr, socklen_t addr_len, int family, bool quickack) {
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  if (!quickack) {
    /* Best effort: without it a half-open check still holds, it just completes the handshake. */
    int off = 0;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &off, sizeof off);
  }
  if (connect(fd, (const struct sockaddr *)addr, addr_len) != 0 && errno != EINPROGRESS) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

static void deliver(Engine *e, int count) {
  napi_env env = e->env;
  /*
   * Should any step below fail, this batch is lost to JavaScript; its checks have ended here
   * already, so their tokens are stale and JavaScript's timeouts for them abort nothing.
   */
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, argv[1];
  if (napi_get_reference_value(env, e->on_results, &fn) == napi_ok && fn != NULL &&
      napi_get_global(env, &recv) == napi_ok && /* make_callback wants an object as the receiver */
      napi_create_int32(env, count, &argv[0]) == napi_ok) {
    /* make_callback, not call_function: microtasks and nextTicks run after it, as for any I/O. */
    if (napi_make_callback(env, e->async, recv, fn, 1, argv, NULL) != napi_ok) {
      /* A throwing handler is an uncaught exception, as from any I/O callback, not a pending one. */
      bool pending = false;
      napi_value error;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
          napi_get_and_clear_last_exception(env, &error) == napi_ok) {
        (void)napi_fatal_exception(env, error); /* fails only while the environment is going away */
      }
    }
  }
  (void)napi_close_handle_scope(env, scope); /* fails only for a scope not opened here */
}

static void on_ready(uv_poll_t *poll, int status, int events) {
  (void)status;
  (void)events;
  Engine *e = (Engine *)poll->data;
  for (int round = 0; round < MAX_ROUNDS; round++) {
    int n = epoll_wait(e->epfd, e->events, BATCH, 0);
    if (n <= 0) return;
    int count = 0;
    for (int i = 0; i < n; i++) {
      uint32_t slot = (uint32_t)e->events[i].data.u64;
      uint32_t gen = (uint32_t)(e->events[i].data.u64 >> 32);
      if (slot >= e->nslots || e->slots[slot].fd < 0 || e->slots[slot].gen != gen) continue;
      double result;
      if (!check_event(e, slot, e->events[i].events, &result)) continue;
      release_slot(e, slot);
      e->results[2 * count] = token_of(slot, gen);
      e->results[2 * count + 1] = result;
      count++;
    }
    if (count > 0) deliver(e, count);
    if (n < BATCH) return;
  }
}

/* Drops what init took from JavaScript, in any state init reached. Teardown: failures change nothing. */
static void drop_js(Engine *e) {
  if (e->async != NULL) (void)napi_async_destroy(e->env, e->async);
  if (e->on_results != NULL) (void)napi_delete_reference(e->env, e->on_results);
  if (e->results_ref != NULL) (void)napi_delete_reference(e->env, e->results_ref);
  e->async = NULL;
  e->on_results = e->results_ref = NULL;
}

static void close_sockets(Engine *e) {
  for (uint32_t i = 0; i < e->nslots; i++) {
    if (e->slots[i].fd < 0) continue;
    close_reset(e->slots[i].fd);
    check_drop(&e->slots[i].state);
  }
}

static void free_engine(Engine *e) {
  free(e->slots);
  free(e);
}

static void on_poll_closed(uv_handle_t *handle) { free_engine((Engine *)handle->data); }

static void on_closed(uv_handle_t *handle) {
  Engine *e = (Engine *)handle->data;
  (void)napi_remove_async_cleanup_hook(e->cleanup); /* it has run: this is its completion */
  free_engine(e);
}

/* Environment teardown (the process exits, a worker ends): checks in flight end without a result. */
static void on_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  (void)handle;
  Engine *e = (Engine *)arg;
  (void)napi_set_instance_data(e->env, NULL, NULL, NULL); /* later calls find no engine, not a freed one */
  uv_poll_stop(&e->poll);
  close_sockets(e);
  close(e->epfd);
  drop_js(e);
  uv_close((uv_handle_t *)&e->poll, on_closed);
}

static napi_value js_init(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_valuetype type;
  bool is_typed = false;
  if (FAILED(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL))) return NULL;
  if (argc < 2) return number_value(env, -EINVAL);
  void *existing = NULL;
  if (FAILED(env, napi_get_instance_data(env, &existing))) return NULL;
  if (existing != NULL) return number_value(env, -EALREADY);
  if (FAILED(env, napi_typeof(env, argv[0], &type)) || FAILED(env, napi_is_typedarray(env, argv[1], &is_typed))) return NULL;
  if (type != napi_function || !is_typed) return number_value(env, -EINVAL);
  napi_typedarray_type array_type;
  size_t length;
  void *data;
  if (FAILED(env, napi_get_typedarray_info(env, argv[1], &array_type, &length, &data, NULL, NULL))) return NULL;
  if (array_type != napi_float64_array || length < 2 * BATCH) return number_value(env, -EINVAL);
  uv_loop_t *loop;
  if (FAILED(env, napi_get_uv_event_loop(env, &loop))) return NULL;

  Engine *e = calloc(1, sizeof *e);
  if (e == NULL) return number_value(env, -ENOMEM);
  e->env = env;
  e->results = data;
  e->epfd = -1;
  e->free_head = e->free_tail = NO_SLOT;
  if (!grow_slots(e)) {
    free_engine(e);
    return number_value(env, -ENOMEM);
  }
  napi_value name;
  if (FAILED(env, napi_create_reference(env, argv[0], 1, &e->on_results)) ||
      FAILED(env, napi_create_reference(env, argv[1], 1, &e->results_ref)) ||
      FAILED(env, napi_create_string_utf8(env, "ha-agent:" ENGINE_NAME, NAPI_AUTO_LENGTH, &name)) ||
      FAILED(env, napi_async_init(env, NULL, name, &e->async))) {
    drop_js(e);
    free_engine(e);
    return NULL;
  }
  e->epfd = epoll_create1(EPOLL_CLOEXEC);
  int err = e->epfd < 0 ? -errno : uv_poll_init(loop, &e->poll, e->epfd);
  if (err != 0) {
    if (e->epfd >= 0) close(e->epfd);
    drop_js(e);
    free_engine(e);
    return number_value(env, err);
  }
  e->poll.data = e;
  /* From here the loop knows the handle: the engine is freed once the handle is closed, not before. */
  err = uv_poll_start(&e->poll, UV_READABLE, on_ready);
  bool threw = false;
  if (err == 0) {
    if (FAILED(env, napi_set_instance_data(env, e, NULL, NULL))) {
      threw = true;
    } else if (FAILED(env, napi_add_async_cleanup_hook(env, on_cleanup, e, &e->cleanup))) {
      (void)napi_set_instance_data(env, NULL, NULL, NULL); /* undoing the line above */
      threw = true;
    } else {
      update_ref(e);
      return number_value(env, 0);
    }
  }
  uv_poll_stop(&e->poll);
  close(e->epfd);
  drop_js(e);
  uv_close((uv_handle_t *)&e->poll, on_poll_closed);
  return threw ? NULL : number_value(env, err);
}

static napi_value js_abort(napi_env env, napi_callback_info info) {
  Engine *e = engine_of(env);
  if (e == NULL) return number_value(env, -ENOTCONN);
  size_t argc = 1;
  napi_value argv[1];
  double token;
  if (FAILED(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL))) return NULL;
  if (argc < 1 || napi_get_value_double(env, argv[0], &token) != napi_ok) return number_value(env, -EINVAL);
  uint32_t slot = slot_of(e, token);
  /* An ended check (reported, aborted, or its result lost) has nothing left to close. */
  if (slot == NO_SLOT) return number_value(env, -ENOENT);
  /* close() takes the fd out of the epoll set: no result will come for it. */
  close_reset(e->slots[slot].fd);
  release_slot(e, slot);
  return number_value(env, 0);
}

static napi_value js_inflight(napi_env env, napi_callback_info info) {
  (void)info;
  Engine *e = engine_of(env);
  return number_value(env, e == NULL ? 0 : e->inflight);
}

/* The shared exports, then the engine's own methods and constants. */
static napi_value engine_exports(napi_env env, napi_value exports, const Method *own, size_t n_own,
                                 const Constant *own_constants, size_t n_constants) {
  static const Method shared[] = {{"init", js_init}, {"abort", js_abort}, {"inflight", js_inflight}};
  static const Constant shared_constants[] = {{"BATCH", BATCH}, {"SLOTS", (int32_t)SLOTS}};
  for (size_t k = 0; k < 2; k++) {
    const Method *methods = k == 0 ? shared : own;
    size_t n = k == 0 ? sizeof shared / sizeof shared[0] : n_own;
    for (size_t i = 0; i < n; i++) {
      napi_value fn;
      if (FAILED(env, napi_create_function(env, methods[i].name, NAPI_AUTO_LENGTH, methods[i].fn, NULL, &fn)) ||
          FAILED(env, napi_set_named_property(env, exports, methods[i].name, fn))) {
        return NULL;
      }
    }
    const Constant *constants = k == 0 ? shared_constants : own_constants;
    n = k == 0 ? sizeof shared_constants / sizeof shared_constants[0] : n_constants;
    for (size_t i = 0; i < n; i++) {
      napi_value value;
      if (FAILED(env, napi_create_int32(env, constants[i].value, &value)) ||
          FAILED(env, napi_set_named_property(env, exports, constants[i].name, value))) {
        return NULL;
      }
    }
  }
  return exports;
}
