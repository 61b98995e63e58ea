/*
 * tcp_check: the agent's tcp checks in native code, thousands a second at HAProxy's cost.
 *
 * The agent may spend at most 1.5x HAProxy's CPU on tcp checks. A check in Node costs
 * JavaScript objects, C++ wrappers and a callback per probe, and it cannot set TCP_QUICKACK, so
 * every check completes the handshake. Here a check is a file descriptor in the engine's epoll
 * set (native/engine.h: slots, tokens, batches).
 *
 * Each check is HAProxy's plain `check`: a non-blocking socket with TCP_QUICKACK off, so the
 * kernel holds back the ACK of the SYN-ACK; once connect() reports success the socket is closed
 * with SO_LINGER 0. The RST goes out before the ACK: the backend never completes the handshake
 * (no child socket, no accept, nothing logged) and the load balancer keeps no TIME_WAIT.
 *
 * JavaScript side: checks/tcp-native.ts. API: engine.h's, and
 *   start(ip, port)           begins a check: its token (> 0), or -errno when it failed at once
 *                             (bad address, no fds, unreachable).
 *   result                    0 when connected, else -errno.
 */
#define ENGINE_NAME "tcp_check"
/* A tcp check holds nothing but its socket. */
typedef struct {
  char unused;
} SlotState;
#include "engine.h"

static void check_drop(SlotState *state) { (void)state; }

static bool check_event(Engine *e, uint32_t slot, uint32_t events, double *result) {
  (void)events;
  int fd = e->slots[slot].fd;
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err == 0) close_reset(fd);
  else close(fd);
  *result = -err;
  return true;
}

static napi_value js_start(napi_env env, napi_callback_info info) {
  Engine *e = engine_of(env);
  if (e == NULL) return number_value(env, -ENOTCONN);
  size_t argc = 2;
  napi_value argv[2];
  if (FAILED(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL))) return NULL;
  if (argc < 2) return number_value(env, -EINVAL);
  struct sockaddr_storage addr;
  socklen_t addr_len;
  int family;
  int err = read_address(env, argv[0], argv[1], &addr, &addr_len, &family);
  if (err != 0) return number_value(env, err);
  uint32_t slot = free_slot(e);
  if (slot == NO_SLOT) return number_value(env, -ENOBUFS);
  napi_value out = number_value(env, token_of(slot, e->slots[slot].gen));
  if (out == NULL) return NULL;
  int fd = connect_socket(&addr, addr_len, family, false);
  if (fd < 0) return number_value(env, fd);
  /* Connected at once or in progress: either way the result comes from the epoll set. */
  err = engine_add(e, slot, fd, EPOLLOUT);
  return err == 0 ? out : number_value(env, err);
}

NAPI_MODULE_INIT() {
  static const Method methods[] = {{"start", js_start}};
  return engine_exports(env, exports, methods, 1, NULL, 0);
}
