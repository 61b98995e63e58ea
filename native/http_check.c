/*
 * http_check: plain-HTTP checks that only judge the status, in native code, at HAProxy's cost.
 *
 * An http check through Node's http module costs a ClientRequest, an IncomingMessage, a parser,
 * header objects and several callbacks per probe; even over a bare net.Socket each probe is a
 * handle, a stream and its callbacks. Here a check is a socket in the engine's epoll set
 * (native/engine.h: slots, tokens, batches, the same as tcp_check.c) that sends a request built
 * once by JavaScript (method, path, Host, `Connection: close`) and reads only the status line,
 * as HAProxy's `option httpchk` with a status expectation does. Then the socket is closed with
 * SO_LINGER 0: a RST, so the load balancer keeps no TIME_WAIT, whether the server has sent the
 * rest of its response or not. Checks that match the body (or use TLS) stay in JavaScript
 * (checks/http-net.ts): they need the whole response there anyway.
 *
 * The socket is edge-triggered for both directions, registered once: the connect's completion
 * sends the request, each new segment is read until the kernel has no more, so neither the
 * request nor the response costs an epoll_ctl.
 *
 * JavaScript side: checks/http-native.ts. API: engine.h's, and
 *   start(ip, port, request)  request: a Uint8Array (copied) of at most MAX_REQUEST bytes. The
 *                             check's token (> 0), or -errno when it failed at once.
 *   result                    the status (100..999); -errno (the connect failed, or a reset);
 *                             CLOSED: the server closed before the status line ended;
 *                             MALFORMED: the status line is not `HTTP/d.d ddd` or is longer
 *                             than MAX_STATUS_LINE.
 */
#define ENGINE_NAME "http_check"
#include <stdint.h>

typedef struct {
  char *request; /* malloc'd copy, NULL once sent */
  uint32_t length;
  uint32_t sent;
  uint32_t line;  /* bytes of the status line received so far */
  char head[16];  /* its first bytes: `HTTP/1.1 200` and what follows */
} SlotState;
#include "engine.h"

#define MAX_REQUEST 16384
#define MAX_STATUS_LINE 1024
#define CLOSED (-5001)
#define MALFORMED (-5002)

static void check_drop(SlotState *state) {
  free(state->request);
  memset(state, 0, sizeof *state);
}

static bool digit(char c) { return c >= '0' && c <= '9'; }

/* The status of a complete status line (head holds its first bytes, `length` in all), or MALFORMED. */
static double parse_status(const char *head, uint32_t length) {
  /* `HTTP/1.1 200` then a space (a reason follows) or the end of the line. */
  if (length < 13 || memcmp(head, "HTTP/", 5) != 0 || !digit(head[5]) || head[6] != '.' || !digit(head[7]) ||
      head[8] != ' ' || head[9] < '1' || head[9] > '9' || !digit(head[10]) || !digit(head[11]) ||
      (head[12] != ' ' && head[12] != '\r' && head[12] != '\n')) {
    return MALFORMED;
  }
  return (head[9] - '0') * 100 + (head[10] - '0') * 10 + (head[11] - '0');
}

/* Sends what is left of the request: 0 when all is sent, 1 to wait for room, or -errno. */
static int send_request(int fd, SlotState *st) {
  while (st->sent < st->length) {
    ssize_t n = send(fd, st->request + st->sent, st->length - st->sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -errno;
    }
    st->sent += (uint32_t)n;
  }
  free(st->request);
  st->request = NULL;
  return 0;
}

/* Reads until the status line ends: true with *result once it has (or the check failed). */
static bool read_status(int fd, SlotState *st, double *result) {
  char buf[2048];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n == 0) {
      *result = CLOSED;
      return true;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
      *result = -errno;
      return true;
    }
    for (ssize_t i = 0; i < n; i++) {
      if (st->line < sizeof st->head) st->head[st->line] = buf[i];
      st->line++;
      if (buf[i] == '\n') {
        *result = parse_status(st->head, st->line);
        return true;
      }
      if (st->line >= MAX_STATUS_LINE) {
        *result = MALFORMED;
        return true;
      }
    }
  }
}

static bool check_event(Engine *e, uint32_t slot, uint32_t events, double *result) {
  Slot *s = &e->slots[slot];
  SlotState *st = &s->state;
  int fd = s->fd;
  if (st->request != NULL) {
    int err = 0;
    if (st->sent == 0) {
      /* The connect's outcome, before anything is sent. */
      socklen_t len = sizeof err;
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      else if (err == 0 && !(events & EPOLLOUT)) return false; /* still connecting */
      err = -err;
    }
    if (err == 0) err = send_request(fd, st);
    if (err > 0) return false;
    if (err < 0) {
      close(fd);
      *result = err;
      return true;
    }
    /* Sent: the answer comes with a later edge; there is nothing to read yet. */
    if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return false;
  }
  if (!read_status(fd, st, result)) return false;
  close_reset(fd);
  return true;
}

static napi_value js_start(napi_env env, napi_callback_info info) {
  Engine *e = engine_of(env);
  if (e == NULL) return number_value(env, -ENOTCONN);
  size_t argc = 3;
  napi_value argv[3];
  if (FAILED(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL))) return NULL;
  if (argc < 3) return number_value(env, -EINVAL);
  struct sockaddr_storage addr;
  socklen_t addr_len;
  int family;
  int err = read_address(env, argv[0], argv[1], &addr, &addr_len, &family);
  if (err != 0) return number_value(env, err);
  bool is_typed = false;
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (FAILED(env, napi_is_typedarray(env, argv[2], &is_typed))) return NULL;
  if (!is_typed) return number_value(env, -EINVAL);
  if (FAILED(env, napi_get_typedarray_info(env, argv[2], &type, &length, &data, NULL, NULL))) return NULL;
  if (type != napi_uint8_array || length == 0 || length > MAX_REQUEST) return number_value(env, -EINVAL);

  uint32_t slot = free_slot(e);
  if (slot == NO_SLOT) return number_value(env, -ENOBUFS);
  napi_value out = number_value(env, token_of(slot, e->slots[slot].gen));
  if (out == NULL) return NULL;
  char *request = malloc(length);
  if (request == NULL) return number_value(env, -ENOMEM);
  memcpy(request, data, length);
  int fd = connect_socket(&addr, addr_len, family, true);
  if (fd < 0) {
    free(request);
    return number_value(env, fd);
  }
  err = engine_add(e, slot, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
  if (err != 0) {
    free(request);
    return number_value(env, err);
  }
  SlotState *st = &e->slots[slot].state;
  memset(st, 0, sizeof *st);
  st->request = request;
  st->length = (uint32_t)length;
  return out;
}

NAPI_MODULE_INIT() {
  static const Method methods[] = {{"start", js_start}};
  static const Constant constants[] = {{"CLOSED", CLOSED}, {"MALFORMED", MALFORMED}, {"MAX_REQUEST", MAX_REQUEST}};
  return engine_exports(env, exports, methods, 1, constants, sizeof constants / sizeof constants[0]);
}
