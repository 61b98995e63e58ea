/*
 * nflog: the packets netfilter rules send to an NFLOG group (iptables -j NFLOG, nft `log group`),
 * read from a NETLINK_NETFILTER socket bound to that group, handed to JavaScript as text lines.
 *
 * The agent logs each new connection of a farm with `log: true` this way: the kernel ring buffer
 * (-j LOG) would mix them with the kernel's own messages and cost a printk each, and ulogd would
 * be one more daemon to configure. Only the first bytes of each packet are copied (its IP and
 * transport headers: addresses and ports), with its mark (the chosen backend) and the rule's
 * prefix (the farm); JavaScript parses them (agent/connlog/parse.ts).
 *
 * The listener owns its socket: JavaScript names it by a token that is never reused, not by its
 * fd. Reading happens in a uv_poll on the loop thread; the poll does not keep the process alive.
 * At most MAX_READS datagrams are read per wake-up, and the kernel drops what the socket buffer
 * cannot hold (reported as a "# lost" line): a flood of new connections stays bounded here.
 *
 * JavaScript side: agent/connlog/native.ts. API:
 *   open(group, onLines)  a token (>= 1) naming a new listener bound to the group, or -errno
 *                         (-EBUSY: another process, such as ulogd, holds the group).
 *                         onLines(text): lines "<family> <mark> <prefix> <hex of the packet>\n",
 *                         family 2 (IPv4) or 10 (IPv6), mark in decimal; "# lost\n" after an overflow.
 *   close(token)          0, or -ENOENT when the token names no open listener.
 * A Node-API call that fails throws, naming the call.
 */
#define NAPI_VERSION 8
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>

#ifndef __linux__
#error "nflog needs Linux netlink; native/build.sh skips it elsewhere"
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Bytes of each packet copied: an IPv6 header (40) and the ports after it. */
#define COPY_RANGE 64
/* One datagram holds one or a few packets of COPY_RANGE bytes. */
#define RECV_BYTES (64 * 1024)
/* Kernel buffer for packets not read yet. */
#define SOCKET_BUFFER (4 * 1024 * 1024)
/* Reads per wake-up, so a flood cannot starve the rest of the loop. */
#define MAX_READS 64
#define MAX_ATTR (NFULA_MAX + 1)

typedef struct Listener {
  napi_env env;
  double token;
  int fd;
  uv_poll_t poll;
  napi_ref on_lines;
  napi_async_context async;
  napi_async_cleanup_hook_handle cleanup;
  struct Listener *next;
  char *recv_buf;
  char *out;
  size_t out_len, out_cap;
  bool out_failed;
} Listener;

/* The open listeners of one Node environment (instance data). */
typedef struct {
  Listener *head;
  double next_token;
} Registry;

static bool napi_failed(napi_env env, napi_status status, const char *call) {
  if (status == napi_ok) return false;
  const napi_extended_error_info *info = NULL;
  char why[160] = "unknown";
  if (napi_get_last_error_info(env, &info) == napi_ok && info != NULL && info->error_message != NULL) {
    snprintf(why, sizeof why, "%s", info->error_message);
  }
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return true;
  char message[256];
  snprintf(message, sizeof message, "nflog: %s failed: %s (status %d)", call, why, (int)status);
  (void)napi_throw_error(env, NULL, message);
  return true;
}
#define FAILED(env, call) napi_failed((env), (call), #call)

static napi_value number_value(napi_env env, double value) {
  napi_value out;
  if (FAILED(env, napi_create_double(env, value, &out))) return NULL;
  return out;
}

static void free_registry(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

/* This environment's registry, created on first use; NULL with an exception pending on failure. */
static Registry *registry_of(napi_env env) {
  void *data = NULL;
  if (FAILED(env, napi_get_instance_data(env, &data))) return NULL;
  if (data != NULL) return (Registry *)data;
  Registry *r = calloc(1, sizeof *r);
  if (r == NULL) {
    (void)napi_throw_error(env, NULL, "nflog: out of memory");
    return NULL;
  }
  r->next_token = 1;
  if (FAILED(env, napi_set_instance_data(env, r, free_registry, NULL))) {
    free(r);
    return NULL;
  }
  return r;
}

/* ---- output ---- */

static void out_reserve(Listener *l, size_t more) {
  if (l->out_failed || l->out_len + more <= l->out_cap) return;
  size_t cap = l->out_cap * 2;
  while (cap < l->out_len + more) cap *= 2;
  char *grown = realloc(l->out, cap);
  if (grown == NULL) {
    l->out_failed = true;
    return;
  }
  l->out = grown;
  l->out_cap = cap;
}

static void out_printf(Listener *l, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(Listener *l, const char *format, ...) {
  va_list args;
  va_start(args, format);
  char line[512];
  int n = vsnprintf(line, sizeof line, format, args);
  va_end(args);
  if (n < 0) return;
  size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
  out_reserve(l, len);
  if (l->out_failed) return;
  memcpy(l->out + l->out_len, line, len);
  l->out_len += len;
}

/* ---- decoding ---- */

static void parse_attrs(const void *data, size_t len, const struct nlattr **tb) {
  memset(tb, 0, sizeof(*tb) * MAX_ATTR);
  const struct nlattr *a = data;
  while (len >= sizeof *a && a->nla_len >= sizeof *a && a->nla_len <= len) {
    uint16_t type = a->nla_type & NLA_TYPE_MASK;
    if (type < MAX_ATTR) tb[type] = a;
    size_t step = NLA_ALIGN(a->nla_len);
    if (step >= len) break;
    len -= step;
    a = (const struct nlattr *)((const char *)a + step);
  }
}

static const void *payload_of(const struct nlattr *a) { return (const char *)a + NLA_HDRLEN; }
static size_t payload_len(const struct nlattr *a) { return a->nla_len - NLA_HDRLEN; }

static void decode(Listener *l, const struct nlmsghdr *nlh) {
  if (nlh->nlmsg_type != ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET)) return;
  if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(struct nfgenmsg))) return;
  const struct nfgenmsg *g = NLMSG_DATA(nlh);
  const struct nlattr *tb[MAX_ATTR];
  parse_attrs((const char *)g + NLMSG_ALIGN(sizeof *g), nlh->nlmsg_len - NLMSG_LENGTH(sizeof *g) - (NLMSG_ALIGN(sizeof *g) - sizeof *g), tb);
  uint32_t mark = 0;
  if (tb[NFULA_MARK] != NULL && payload_len(tb[NFULA_MARK]) >= 4) {
    memcpy(&mark, payload_of(tb[NFULA_MARK]), 4);
    mark = ntohl(mark);
  }
  /* A prefix is at most 64 bytes (NF_LOG_PREFIXLEN); only the agent's own words and '-', '_', ':'. */
  char prefix[65] = "-";
  if (tb[NFULA_PREFIX] != NULL) {
    size_t n = 0, len = payload_len(tb[NFULA_PREFIX]);
    const char *p = payload_of(tb[NFULA_PREFIX]);
    for (size_t i = 0; i < len && n < sizeof prefix - 1 && p[i] != '\0'; i++) {
      char c = p[i];
      prefix[n++] = (c > ' ' && c < 127) ? c : '_';
    }
    prefix[n > 0 ? n : 1] = '\0';
  }
  out_printf(l, "%u %u %s ", (unsigned)g->nfgen_family, (unsigned)mark, prefix);
  if (tb[NFULA_PAYLOAD] != NULL) {
    const unsigned char *p = payload_of(tb[NFULA_PAYLOAD]);
    size_t len = payload_len(tb[NFULA_PAYLOAD]);
    if (len > COPY_RANGE) len = COPY_RANGE;
    out_reserve(l, len * 2);
    if (l->out_failed) return;
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
      l->out[l->out_len++] = hex[p[i] >> 4];
      l->out[l->out_len++] = hex[p[i] & 15];
    }
  }
  out_printf(l, "\n");
}

/* ---- delivery ---- */

static void deliver(Listener *l) {
  napi_env env = l->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, argv[1];
  if (napi_get_reference_value(env, l->on_lines, &fn) == napi_ok && fn != NULL &&
      napi_get_global(env, &recv) == napi_ok &&
      napi_create_string_latin1(env, l->out, l->out_len, &argv[0]) == napi_ok) {
    /* make_callback: microtasks and nextTicks run after it, as for any I/O. */
    if (napi_make_callback(env, l->async, recv, fn, 1, argv, NULL) != napi_ok) {
      bool pending = false;
      napi_value error;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
          napi_get_and_clear_last_exception(env, &error) == napi_ok) {
        (void)napi_fatal_exception(env, error);
      }
    }
  }
  (void)napi_close_handle_scope(env, scope);
}

static void on_ready(uv_poll_t *poll, int status, int events) {
  (void)events;
  Listener *l = (Listener *)poll->data;
  l->out_len = 0;
  l->out_failed = false;
  if (status < 0) out_printf(l, "# lost\n");
  for (int i = 0; i < MAX_READS; i++) {
    ssize_t n = recv(l->fd, l->recv_buf, RECV_BYTES, MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      /* ENOBUFS: the kernel dropped packets the socket had no room for. */
      out_printf(l, "# lost\n");
      if (errno != ENOBUFS) break;
      continue;
    }
    if (n > RECV_BYTES) continue;
    size_t len = (size_t)n;
    for (const struct nlmsghdr *nlh = (const struct nlmsghdr *)l->recv_buf; NLMSG_OK(nlh, len); nlh = NLMSG_NEXT(nlh, len)) {
      decode(l, nlh);
    }
  }
  if (l->out_failed) {
    l->out_len = 0;
    l->out_failed = false;
    out_printf(l, "# lost\n");
  }
  if (l->out_len > 0) deliver(l);
}

/* ---- lifetime ---- */

static void unlink_listener(Registry *r, Listener *l) {
  if (r == NULL) return;
  for (Listener **p = &r->head; *p != NULL; p = &(*p)->next) {
    if (*p == l) {
      *p = l->next;
      return;
    }
  }
}

static void free_listener(Listener *l) {
  free(l->recv_buf);
  free(l->out);
  free(l);
}

static void on_closed(uv_handle_t *handle) {
  Listener *l = (Listener *)handle->data;
  /* Completes the cleanup hook when it ran; removes it when JavaScript closed the listener. */
  (void)napi_remove_async_cleanup_hook(l->cleanup);
  free_listener(l);
}

/* Stops reading and lets go of everything; the memory goes once libuv has closed the handle. */
static void shut(Listener *l) {
  uv_poll_stop(&l->poll);
  close(l->fd);
  l->fd = -1;
  if (l->async != NULL) (void)napi_async_destroy(l->env, l->async);
  if (l->on_lines != NULL) (void)napi_delete_reference(l->env, l->on_lines);
  l->async = NULL;
  l->on_lines = NULL;
  uv_close((uv_handle_t *)&l->poll, on_closed);
}

/* Environment teardown (process exit, a worker ending): the registry may be gone by now. */
static void on_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  (void)handle;
  Listener *l = (Listener *)arg;
  void *data = NULL;
  if (napi_get_instance_data(l->env, &data) == napi_ok) unlink_listener((Registry *)data, l);
  shut(l);
}

/* One NFULNL_MSG_CONFIG request for `group`, acknowledged: 0, or -errno from the kernel. */
static int configure(int fd, uint16_t group, uint16_t attr_type, const void *attr, uint16_t attr_len) {
  char buf[NLMSG_SPACE(sizeof(struct nfgenmsg) + NLA_HDRLEN + 16)];
  memset(buf, 0, sizeof buf);
  struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
  nlh->nlmsg_len = NLMSG_LENGTH(sizeof(struct nfgenmsg) + NLA_HDRLEN + NLA_ALIGN(attr_len));
  nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  nlh->nlmsg_seq = attr_type;
  struct nfgenmsg *g = NLMSG_DATA(nlh);
  g->nfgen_family = AF_UNSPEC;
  g->version = NFNETLINK_V0;
  g->res_id = htons(group);
  struct nlattr *a = (struct nlattr *)((char *)g + NLMSG_ALIGN(sizeof *g));
  a->nla_type = attr_type;
  a->nla_len = NLA_HDRLEN + attr_len;
  memcpy((char *)a + NLA_HDRLEN, attr, attr_len);
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(fd, buf, nlh->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return -errno;
  char reply[1024];
  for (;;) {
    ssize_t n = recv(fd, reply, sizeof reply, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    size_t len = (size_t)n;
    for (const struct nlmsghdr *r = (const struct nlmsghdr *)reply; NLMSG_OK(r, len); r = NLMSG_NEXT(r, len)) {
      if (r->nlmsg_type != NLMSG_ERROR || r->nlmsg_seq != attr_type) continue;
      const struct nlmsgerr *e = NLMSG_DATA(r);
      return e->error;
    }
  }
}

/* A socket bound to the NFLOG group, copying the packet's first COPY_RANGE bytes: its fd, or -errno. */
static int subscribe(uint16_t group) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) return -errno;
  struct sockaddr_nl addr = {.nl_family = AF_NETLINK};
  int size = SOCKET_BUFFER;
  /* FORCE passes rmem_max (needs CAP_NET_ADMIN, which the agent has); else the capped size. */
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) {
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  struct timeval wait = {.tv_sec = 2};
  int err = 0;
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait) != 0) {
    err = -errno;
  }
  struct nfulnl_msg_config_cmd bind_cmd = {.command = NFULNL_CFG_CMD_BIND};
  struct nfulnl_msg_config_mode mode = {.copy_range = htonl(COPY_RANGE), .copy_mode = NFULNL_COPY_PACKET};
  if (err == 0) err = configure(fd, group, NFULA_CFG_CMD, &bind_cmd, sizeof bind_cmd);
  if (err == 0) err = configure(fd, group, NFULA_CFG_MODE, &mode, sizeof mode);
  /* From now on reads never block the loop. */
  if (err == 0 && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) err = -errno;
  if (err != 0) {
    close(fd);
    return err;
  }
  return fd;
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_valuetype type;
  double group;
  if (FAILED(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL))) return NULL;
  if (argc < 2) return number_value(env, -EINVAL);
  if (napi_get_value_double(env, argv[0], &group) != napi_ok || group < 0 || group > 65535 || group != (double)(uint16_t)group) return number_value(env, -EINVAL);
  if (FAILED(env, napi_typeof(env, argv[1], &type))) return NULL;
  if (type != napi_function) return number_value(env, -EINVAL);
  Registry *r = registry_of(env);
  if (r == NULL) return NULL;
  uv_loop_t *loop;
  if (FAILED(env, napi_get_uv_event_loop(env, &loop))) return NULL;

  Listener *l = calloc(1, sizeof *l);
  if (l != NULL) {
    l->recv_buf = malloc(RECV_BYTES);
    l->out_cap = 16 * 1024;
    l->out = malloc(l->out_cap);
  }
  if (l == NULL || l->recv_buf == NULL || l->out == NULL) {
    if (l != NULL) free_listener(l);
    return number_value(env, -ENOMEM);
  }
  l->env = env;
  l->fd = subscribe((uint16_t)group);
  if (l->fd < 0) {
    int err = l->fd;
    free_listener(l);
    return number_value(env, err);
  }
  napi_value name;
  if (FAILED(env, napi_create_reference(env, argv[1], 1, &l->on_lines)) ||
      FAILED(env, napi_create_string_utf8(env, "ha-agent:nflog", NAPI_AUTO_LENGTH, &name)) ||
      FAILED(env, napi_async_init(env, NULL, name, &l->async))) {
    if (l->on_lines != NULL) (void)napi_delete_reference(env, l->on_lines);
    close(l->fd);
    free_listener(l);
    return NULL;
  }
  int err = uv_poll_init(loop, &l->poll, l->fd);
  if (err != 0) {
    (void)napi_async_destroy(env, l->async);
    (void)napi_delete_reference(env, l->on_lines);
    close(l->fd);
    free_listener(l);
    return number_value(env, err);
  }
  l->poll.data = l;
  /* From here the loop knows the handle: the listener is freed once the handle is closed. */
  err = uv_poll_start(&l->poll, UV_READABLE, on_ready);
  if (err == 0 && FAILED(env, napi_add_async_cleanup_hook(env, on_cleanup, l, &l->cleanup))) {
    l->cleanup = NULL;
    shut(l);
    return NULL;
  }
  if (err != 0) {
    l->cleanup = NULL;
    shut(l);
    return number_value(env, err);
  }
  uv_unref((uv_handle_t *)&l->poll);
  l->token = r->next_token++;
  l->next = r->head;
  r->head = l;
  return number_value(env, l->token);
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  double token;
  if (FAILED(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL))) return NULL;
  if (argc < 1 || napi_get_value_double(env, argv[0], &token) != napi_ok) return number_value(env, -EINVAL);
  Registry *r = registry_of(env);
  if (r == NULL) return NULL;
  for (Listener *l = r->head; l != NULL; l = l->next) {
    if (l->token != token) continue;
    unlink_listener(r, l);
    shut(l);
    return number_value(env, 0);
  }
  return number_value(env, -ENOENT);
}

NAPI_MODULE_INIT() {
  static const struct {
    const char *name;
    napi_callback fn;
  } methods[] = {{"open", js_open}, {"close", js_close}};
  for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
    napi_value fn;
    if (FAILED(env, napi_create_function(env, methods[i].name, NAPI_AUTO_LENGTH, methods[i].fn, NULL, &fn)) ||
        FAILED(env, napi_set_named_property(env, exports, methods[i].name, fn))) {
      return NULL;
    }
  }
  return exports;
}
