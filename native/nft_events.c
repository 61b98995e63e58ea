/*
 * nft_events: the kernel's nf_tables change notifications, read from a NETLINK_NETFILTER socket
 * joined to NFNLGRP_NFTABLES, handed to JavaScript as the lines `nft -a monitor` prints.
 *
 * Why not `nft monitor`: nft 1.0.6 loads the whole ruleset into its cache before it listens
 * (100+ MB and seconds of CPU at 10k backends, again at each restart) and crashes on the interval
 * map elements the agent's table holds. Here only message headers and the few attributes that
 * say which object changed (family, table, chain, set, handle, a rule's verdict, the writer of a
 * generation) are decoded; nothing is cached, so memory does not grow with the ruleset. The text
 * form keeps one parser (agent/apply/nft-events.ts) for both sources. Runs of element messages of
 * one set print as one line: which elements changed is never needed, and a map of 10k elements
 * would otherwise cost 10k lines.
 *
 * The listener owns its socket: JavaScript names it by a token that is never reused, not by its
 * fd, so closing a listener twice, or late, cannot close someone else's socket. Reading happens in
 * a uv_poll on the loop thread (no thread, no locks); the poll does not keep the process alive.
 *
 * JavaScript side: agent/apply/nft-native.ts. API:
 *   open(onLines)  a token (>= 1) naming a new listener, subscribed on return, or -errno.
 *                  onLines(text): one or more whole lines, each ending in "\n".
 *   close(token)   0, or -ENOENT when the token names no open listener.
 * Lines besides nft's own: "# ERROR: We lost some netlink events!" when the socket overflowed
 * (ENOBUFS: some notifications were dropped), "# unreadable ..." for a message not decoded.
 * A Node-API call that fails throws, naming the call.
 */
#define NAPI_VERSION 8
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>

#ifndef __linux__
#error "nft_events needs Linux netlink; native/build.sh skips it elsewhere"
#endif

#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Room for the largest message: a recv that truncates one is reported as unreadable. */
#define RECV_BYTES (256 * 1024)
/* Kernel buffer for notifications not read yet: a full apply at 10k backends fits. */
#define SOCKET_BUFFER (32 * 1024 * 1024)
/* Reads per wake-up, so a flood of changes cannot starve the rest of the loop. */
#define MAX_READS 64
/* Longest statement list printed for one rule. */
#define MAX_RULE_TEXT 512
#define MAX_ATTR 32

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
  /* The element line printed last, while nothing else was printed after it. */
  char last_element[600];
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
  snprintf(message, sizeof message, "nft_events: %s failed: %s (status %d)", call, why, (int)status);
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
    (void)napi_throw_error(env, NULL, "nft_events: out of memory");
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

static void out_vprintf(Listener *l, const char *format, va_list args) {
  if (l->out_failed) return;
  for (;;) {
    size_t room = l->out_cap - l->out_len;
    va_list copy;
    va_copy(copy, args);
    int n = vsnprintf(l->out + l->out_len, room, format, copy);
    va_end(copy);
    if (n < 0) return;
    if ((size_t)n < room) {
      l->out_len += (size_t)n;
      return;
    }
    size_t cap = l->out_cap * 2 + (size_t)n;
    char *grown = realloc(l->out, cap);
    if (grown == NULL) {
      /* The lines of this wake-up are lost: JavaScript hears of it as a loss. */
      l->out_failed = true;
      return;
    }
    l->out = grown;
    l->out_cap = cap;
  }
}

static void out_printf(Listener *l, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(Listener *l, const char *format, ...) {
  va_list args;
  va_start(args, format);
  out_vprintf(l, format, args);
  va_end(args);
}

/* A name as one word of printable ASCII: anything else (a space nft would have quoted) reads "?". */
static void word_of(const struct nlattr *attr, char *out, size_t size) {
  if (attr == NULL) {
    snprintf(out, size, "?");
    return;
  }
  const char *text = (const char *)attr + NLA_HDRLEN;
  size_t len = attr->nla_len - NLA_HDRLEN, i = 0;
  for (; i < len && i + 1 < size && text[i] != '\0'; i++) {
    unsigned char c = (unsigned char)text[i];
    out[i] = (c <= ' ' || c >= 0x7f || c == '#' || c == '{' || c == '}') ? '?' : (char)c;
  }
  out[i] = '\0';
  if (i == 0) snprintf(out, size, "?");
}

/* ---- netlink attributes ---- */

/* Fills tb[type] for each attribute of [data, data+len); false when one overruns it. */
static bool parse_attrs(const void *data, size_t len, const struct nlattr **tb) {
  memset(tb, 0, sizeof(*tb) * MAX_ATTR);
  const char *at = data, *end = at + len;
  while (at + NLA_HDRLEN <= end) {
    const struct nlattr *a = (const struct nlattr *)at;
    if (a->nla_len < NLA_HDRLEN || at + a->nla_len > end) return false;
    int type = a->nla_type & NLA_TYPE_MASK;
    if (type < MAX_ATTR) tb[type] = a;
    at += NLA_ALIGN(a->nla_len);
  }
  return true;
}

static bool nested(const struct nlattr *a, const struct nlattr **tb) {
  return a != NULL && parse_attrs((const char *)a + NLA_HDRLEN, a->nla_len - NLA_HDRLEN, tb);
}

static bool be32_of(const struct nlattr *a, uint32_t *out) {
  if (a == NULL || a->nla_len < NLA_HDRLEN + 4) return false;
  uint32_t v;
  memcpy(&v, (const char *)a + NLA_HDRLEN, 4);
  *out = __builtin_bswap32(v);
  return true;
}

static bool be64_of(const struct nlattr *a, uint64_t *out) {
  if (a == NULL || a->nla_len < NLA_HDRLEN + 8) return false;
  uint64_t v;
  memcpy(&v, (const char *)a + NLA_HDRLEN, 8);
  *out = __builtin_bswap64(v);
  return true;
}

static const char *family_name(uint8_t family) {
  switch (family) {
    case NFPROTO_IPV4: return "ip";
    case NFPROTO_IPV6: return "ip6";
    case NFPROTO_INET: return "inet";
    case NFPROTO_ARP: return "arp";
    case NFPROTO_BRIDGE: return "bridge";
    case NFPROTO_NETDEV: return "netdev";
    default: return NULL;
  }
}

static const char *object_name(uint32_t type) {
  switch (type) {
    case NFT_OBJECT_COUNTER: return "counter";
    case NFT_OBJECT_QUOTA: return "quota";
    case NFT_OBJECT_CT_HELPER: return "ct helper";
    case NFT_OBJECT_LIMIT: return "limit";
    case NFT_OBJECT_CT_TIMEOUT: return "ct timeout";
    case NFT_OBJECT_SECMARK: return "secmark";
    case NFT_OBJECT_CT_EXPECT: return "ct expectation";
    case NFT_OBJECT_SYNPROXY: return "synproxy";
    default: return NULL;
  }
}

/* An immediate expression's verdict ("jump HAM-web", "accept"), else nothing. */
static void print_verdict(Listener *l, const struct nlattr *expr_data) {
  const struct nlattr *imm[MAX_ATTR], *data[MAX_ATTR], *verdict[MAX_ATTR];
  uint32_t code;
  if (!nested(expr_data, imm) || !nested(imm[NFTA_IMMEDIATE_DATA], data) ||
      !nested(data[NFTA_DATA_VERDICT], verdict) || !be32_of(verdict[NFTA_VERDICT_CODE], &code)) {
    return;
  }
  char chain[256];
  switch ((int32_t)code) {
    case NF_ACCEPT: out_printf(l, " accept"); break;
    case NF_DROP: out_printf(l, " drop"); break;
    case NFT_CONTINUE: out_printf(l, " continue"); break;
    case NFT_RETURN: out_printf(l, " return"); break;
    case NFT_JUMP:
    case NFT_GOTO:
      word_of(verdict[NFTA_VERDICT_CHAIN], chain, sizeof chain);
      out_printf(l, " %s %s", (int32_t)code == NFT_JUMP ? "jump" : "goto", chain);
      break;
    default: break;
  }
}

/* A rule's statements as the names of its expressions, and its verdict when it has one. */
static void print_rule(Listener *l, const struct nlattr *expressions) {
  size_t start = l->out_len;
  if (expressions == NULL) return;
  const char *at = (const char *)expressions + NLA_HDRLEN, *end = (const char *)expressions + expressions->nla_len;
  while (at + NLA_HDRLEN <= end && l->out_len - start < MAX_RULE_TEXT) {
    const struct nlattr *elem = (const struct nlattr *)at;
    if (elem->nla_len < NLA_HDRLEN || at + elem->nla_len > end) return;
    const struct nlattr *expr[MAX_ATTR];
    char name[32];
    if (nested(elem, expr) && expr[NFTA_EXPR_NAME] != NULL) {
      word_of(expr[NFTA_EXPR_NAME], name, sizeof name);
      if (strcmp(name, "immediate") == 0) print_verdict(l, expr[NFTA_EXPR_DATA]);
      else out_printf(l, " %s", name);
    }
    at += NLA_ALIGN(elem->nla_len);
  }
}

static void print_handle(Listener *l, const struct nlattr *attr) {
  uint64_t handle;
  if (be64_of(attr, &handle)) out_printf(l, " # handle %llu", (unsigned long long)handle);
}

/* One nf_tables message as a line of `nft -a monitor`. */
static void decode(Listener *l, const struct nlmsghdr *nlh) {
  if (nlh->nlmsg_type == NLMSG_OVERRUN) {
    out_printf(l, "# ERROR: We lost some netlink events!\n");
    return;
  }
  if (nlh->nlmsg_type < NLMSG_MIN_TYPE) return;
  int subsys = NFNL_SUBSYS_ID(nlh->nlmsg_type), type = NFNL_MSG_TYPE(nlh->nlmsg_type);
  const struct nlattr *tb[MAX_ATTR];
  size_t header = NLMSG_LENGTH(sizeof(struct nfgenmsg));
  if (subsys != NFNL_SUBSYS_NFTABLES || nlh->nlmsg_len < header ||
      !parse_attrs((const char *)nlh + NLMSG_ALIGN(header), nlh->nlmsg_len - NLMSG_ALIGN(header), tb)) {
    l->last_element[0] = '\0';
    out_printf(l, "# unreadable message %d/%d\n", subsys, type);
    return;
  }
  const struct nfgenmsg *gen = NLMSG_DATA(nlh);
  if (type == NFT_MSG_NEWGEN) {
    uint32_t id = 0, pid;
    (void)be32_of(tb[NFTA_GEN_ID], &id);
    l->last_element[0] = '\0';
    if (be32_of(tb[NFTA_GEN_PROC_PID], &pid)) {
      char comm[64];
      word_of(tb[NFTA_GEN_PROC_NAME], comm, sizeof comm);
      out_printf(l, "# new generation %u by process %u (%s)\n", id, pid, comm);
    } else {
      out_printf(l, "# new generation %u\n", id);
    }
    return;
  }
  const char *family = family_name(gen->nfgen_family);
  const char *verb = "add";
  char table[256], name[256];
  switch (type) {
    case NFT_MSG_DELTABLE: case NFT_MSG_DELCHAIN: case NFT_MSG_DELRULE: case NFT_MSG_DELSET:
    case NFT_MSG_DELSETELEM: case NFT_MSG_DELOBJ: case NFT_MSG_DELFLOWTABLE:
      verb = "delete";
      break;
    default: break;
  }
  if (family == NULL) type = -1;
  if (type != NFT_MSG_NEWSETELEM && type != NFT_MSG_DELSETELEM) l->last_element[0] = '\0';
  switch (type) {
    case NFT_MSG_NEWTABLE:
    case NFT_MSG_DELTABLE:
      word_of(tb[NFTA_TABLE_NAME], table, sizeof table);
      out_printf(l, "%s table %s %s", verb, family, table);
      print_handle(l, tb[NFTA_TABLE_HANDLE]);
      break;
    case NFT_MSG_NEWCHAIN:
    case NFT_MSG_DELCHAIN:
      word_of(tb[NFTA_CHAIN_TABLE], table, sizeof table);
      word_of(tb[NFTA_CHAIN_NAME], name, sizeof name);
      out_printf(l, "%s chain %s %s %s", verb, family, table, name);
      print_handle(l, tb[NFTA_CHAIN_HANDLE]);
      break;
    case NFT_MSG_NEWRULE:
    case NFT_MSG_DELRULE: {
      uint64_t handle;
      word_of(tb[NFTA_RULE_TABLE], table, sizeof table);
      word_of(tb[NFTA_RULE_CHAIN], name, sizeof name);
      bool known = be64_of(tb[NFTA_RULE_HANDLE], &handle);
      if (type == NFT_MSG_DELRULE) {
        out_printf(l, "delete rule %s %s %s", family, table, name);
        if (known) out_printf(l, " handle %llu", (unsigned long long)handle);
      } else {
        out_printf(l, "add rule %s %s %s", family, table, name);
        print_rule(l, tb[NFTA_RULE_EXPRESSIONS]);
        print_handle(l, tb[NFTA_RULE_HANDLE]);
      }
      break;
    }
    case NFT_MSG_NEWSET:
    case NFT_MSG_DELSET:
      word_of(tb[NFTA_SET_TABLE], table, sizeof table);
      word_of(tb[NFTA_SET_NAME], name, sizeof name);
      out_printf(l, "%s set %s %s %s", verb, family, table, name);
      print_handle(l, tb[NFTA_SET_HANDLE]);
      break;
    case NFT_MSG_NEWSETELEM:
    case NFT_MSG_DELSETELEM: {
      char line[sizeof l->last_element];
      word_of(tb[NFTA_SET_ELEM_LIST_TABLE], table, sizeof table);
      word_of(tb[NFTA_SET_ELEM_LIST_SET], name, sizeof name);
      snprintf(line, sizeof line, "%s element %s %s %s", verb, family, table, name);
      if (strcmp(line, l->last_element) == 0) return;
      memcpy(l->last_element, line, sizeof line);
      out_printf(l, "%s", line);
      break;
    }
    case NFT_MSG_NEWOBJ:
    case NFT_MSG_DELOBJ: {
      uint32_t kind = 0;
      (void)be32_of(tb[NFTA_OBJ_TYPE], &kind);
      const char *what = object_name(kind);
      word_of(tb[NFTA_OBJ_TABLE], table, sizeof table);
      word_of(tb[NFTA_OBJ_NAME], name, sizeof name);
      if (what == NULL) out_printf(l, "# unreadable object of type %u in %s %s", kind, family, table);
      else out_printf(l, "%s %s %s %s %s", verb, what, family, table, name);
      break;
    }
    case NFT_MSG_NEWFLOWTABLE:
    case NFT_MSG_DELFLOWTABLE:
      word_of(tb[NFTA_FLOWTABLE_TABLE], table, sizeof table);
      word_of(tb[NFTA_FLOWTABLE_NAME], name, sizeof name);
      out_printf(l, "%s flowtable %s %s %s", verb, family, table, name);
      break;
    default:
      out_printf(l, "# unreadable message %d/%d of family %u", subsys, type, gen->nfgen_family);
      break;
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
  /* last_element is kept across wakeups: a run of element messages split over several reads (a
   * busy machine) is still one line; any other message, the generation one included, ends it. */
  if (status < 0) out_printf(l, "# ERROR: We lost some netlink events!\n");
  for (int i = 0; i < MAX_READS; i++) {
    ssize_t n = recv(l->fd, l->recv_buf, RECV_BYTES, MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      /* ENOBUFS: the kernel dropped notifications the socket had no room for. */
      l->last_element[0] = '\0';
      out_printf(l, errno == ENOBUFS ? "# ERROR: We lost some netlink events!\n" : "# ERROR: We lost some netlink events! (%s)\n", strerror(errno));
      if (errno != ENOBUFS) break;
      continue;
    }
    if (n > RECV_BYTES) {
      l->last_element[0] = '\0';
      out_printf(l, "# unreadable: a message of %zd bytes\n", n);
      continue;
    }
    size_t len = (size_t)n;
    for (const struct nlmsghdr *nlh = (const struct nlmsghdr *)l->recv_buf; NLMSG_OK(nlh, len); nlh = NLMSG_NEXT(nlh, len)) {
      decode(l, nlh);
    }
  }
  if (l->out_failed) {
    l->out_len = 0;
    l->out_failed = false;
    out_printf(l, "# ERROR: We lost some netlink events! (out of memory)\n");
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

/* A socket subscribed to nf_tables notifications: its fd, or -errno. */
static int subscribe(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) return -errno;
  struct sockaddr_nl addr = {.nl_family = AF_NETLINK};
  int group = NFNLGRP_NFTABLES, size = SOCKET_BUFFER;
  /* FORCE passes rmem_max (needs CAP_NET_ADMIN, which the agent has); else the capped size. */
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) {
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
      setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) != 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_valuetype type;
  if (FAILED(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL))) return NULL;
  if (argc < 1) return number_value(env, -EINVAL);
  if (FAILED(env, napi_typeof(env, argv[0], &type))) return NULL;
  if (type != napi_function) return number_value(env, -EINVAL);
  Registry *r = registry_of(env);
  if (r == NULL) return NULL;
  uv_loop_t *loop;
  if (FAILED(env, napi_get_uv_event_loop(env, &loop))) return NULL;

  Listener *l = calloc(1, sizeof *l);
  if (l != NULL) {
    l->recv_buf = malloc(RECV_BYTES);
    l->out_cap = 64 * 1024;
    l->out = malloc(l->out_cap);
  }
  if (l == NULL || l->recv_buf == NULL || l->out == NULL) {
    if (l != NULL) free_listener(l);
    return number_value(env, -ENOMEM);
  }
  l->env = env;
  l->fd = subscribe();
  if (l->fd < 0) {
    int err = l->fd;
    free_listener(l);
    return number_value(env, err);
  }
  napi_value name;
  if (FAILED(env, napi_create_reference(env, argv[0], 1, &l->on_lines)) ||
      FAILED(env, napi_create_string_utf8(env, "ha-agent:nft_events", NAPI_AUTO_LENGTH, &name)) ||
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
