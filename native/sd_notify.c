/*
 * sd_notify: one datagram to systemd's notification socket (sd_notify(3)'s protocol).
 *
 * Node's dgram module has no AF_UNIX, and spawning systemd-notify per watchdog ping would cost a
 * process each time and come from the wrong pid (NotifyAccess=main rejects it). As libsystemd
 * does, each message opens a socket, sends one datagram and closes it: nothing is held between
 * calls, so JavaScript never sees a file descriptor. The send never blocks the event loop: a
 * full queue is an error (EAGAIN) for the caller to report, not a wait.
 *
 * JavaScript side: agent/daemon/sd-notify.ts. API:
 *   notify(address, message)   0, or -errno. address is NOTIFY_SOCKET as systemd sets it: an
 *                              absolute path, or "@name" for the abstract namespace.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define SUN_PATH_SIZE sizeof(((struct sockaddr_un *)0)->sun_path)

static napi_value number_value(napi_env env, double value) {
  napi_value out;
  return napi_create_double(env, value, &out) == napi_ok ? out : NULL;
}

/* NOTIFY_SOCKET to a socket address: 0, or -EINVAL for anything but "/path" or "@name" that fits. */
static int notify_address(const char *text, size_t len, struct sockaddr_un *addr, socklen_t *addr_len) {
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (len >= 2 && text[0] == '@' && len <= SUN_PATH_SIZE) {
    /* Abstract: a leading NUL, then the name; its length is the address's, no terminator. */
    memcpy(addr->sun_path + 1, text + 1, len - 1);
    *addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    return 0;
  }
  if (len >= 2 && text[0] == '/' && len < SUN_PATH_SIZE) {
    memcpy(addr->sun_path, text, len);
    *addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
    return 0;
  }
  return -EINVAL;
}

static napi_value js_notify(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 2) return number_value(env, -EINVAL);
  /* One byte more than an address can hold, so a longer one is seen as too long, not cut. */
  char address[SUN_PATH_SIZE + 2];
  size_t address_len;
  if (napi_get_value_string_utf8(env, argv[0], address, sizeof address, &address_len) != napi_ok) return number_value(env, -EINVAL);
  struct sockaddr_un addr;
  socklen_t addr_len;
  int err = notify_address(address, address_len, &addr, &addr_len);
  if (err != 0) return number_value(env, err);
  size_t message_len;
  if (napi_get_value_string_utf8(env, argv[1], NULL, 0, &message_len) != napi_ok) return number_value(env, -EINVAL);
  char *message = malloc(message_len + 1);
  if (message == NULL) return number_value(env, -ENOMEM);
  napi_get_value_string_utf8(env, argv[1], message, message_len + 1, &message_len);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err = -errno;
  } else {
    ssize_t sent;
    do sent = sendto(fd, message, message_len, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&addr, addr_len);
    while (sent < 0 && errno == EINTR);
    err = sent < 0 ? -errno : 0;
    close(fd);
  }
  free(message);
  return number_value(env, err);
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "notify", NAPI_AUTO_LENGTH, js_notify, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "notify", fn) != napi_ok) return NULL;
  return exports;
}
