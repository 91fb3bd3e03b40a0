/* hv-sftp.c — see hv-sftp.h.
 *
 * What libssh 0.10 leaves to the caller (measured against OpenSSH 9.2):
 *  - sftp_write() sends the whole buffer as one SSH_FXP_WRITE; OpenSSH's
 *    sftp-server drops the connection on a message above 256 KiB, other
 *    servers promise only 32 KiB. Requests are cut to HV_SFTP_IO_SMALL, or
 *    HV_SFTP_IO_OPENSSH when the server announces limits@openssh.com (only
 *    OpenSSH >= 8.7 does; 0.10 cannot ask for the values themselves).
 *  - sftp_rename() is the protocol's v3 RENAME: OpenSSH does link()+unlink()
 *    and fails when the new name exists (no posix-rename@openssh.com call in
 *    0.10). Good for ship (never replaces); put removes, then renames.
 *  - the blocking sftp calls loop on a channel read that returns 0 at each
 *    SSH_OPTIONS_TIMEOUT: a server that stops answering hangs them forever.
 *    A watchdog thread shuts the socket down when a request takes longer
 *    than timeout_s, which makes libssh fail the call.
 *  - ~/.ssh/config and /etc/ssh/ssh_config are read by ssh_connect() unless
 *    told not to, and "StrictHostKeyChecking no" there would make an
 *    unknown host key SSH_KNOWN_HOSTS_OK: both are switched off.
 *  - the known_hosts host string for a port other than 22 is "[host]:port".
 *  - every sftp call waits for its answer: without SSH_OPTIONS_NODELAY each
 *    costs a delayed ACK (40 ms on Linux), reads of 40 MiB take 2.3 s
 *    instead of 0.3 s on loopback.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pread, O_NOFOLLOW, explicit_bzero when built alone */
#endif
#include "hv-sftp.h"

#include <errno.h>
#include <fcntl.h>
#include <libssh/libssh.h>
#include <libssh/sftp.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define HV_SFTP_IO_SMALL (32 * 1024)    /* what every SFTP server must take */
#define HV_SFTP_IO_OPENSSH (255 * 1024) /* OpenSSH: max-write-length 261120 */
#define MAX_KEY 1024
#define MAX_BASE 4096
#define MAX_IDENTITY (64 * 1024)
#define MAX_SERVER_TEXT 200
#define DEFAULT_TIMEOUT_S 30
#define DEFAULT_KNOWN_HOSTS "/root/.ssh/known_hosts"

G_DEFINE_QUARK(hv-sftp-error-quark, hv_sftp_error)

struct HvSftp {
	ssh_session ssh;
	sftp_session sftp;
	char *where;      /* user@host:port, for messages */
	char *base;
	guint64 rate;     /* bytes/s, 0: unlimited */
	guint timeout_s;
	const gint *cancel;
	gsize io;         /* bytes per read or write request */
	gboolean has_fsync;
	/* the watchdog: shuts wfd down when a request passes its deadline */
	int wfd;          /* our dup of the session's socket (libssh may close its own) */
	GThread *thread;
	GMutex lock;
	GCond cond;
	gint64 deadline;  /* monotonic µs; 0: no request in flight */
	gboolean quit, fired;
};

/* ------------------------------------------------------------ URL and keys */

static gboolean has_ctrl(const char *s)
{
	for (; *s; s++)
		if ((guchar)*s < 0x20 || *s == 0x7f)
			return TRUE;
	return FALSE;
}

static gboolean all_of(const char *s, gsize n, const char *set)
{
	for (gsize i = 0; i < n; i++)
		if (!s[i] || !strchr(set, s[i]))
			return FALSE;
	return TRUE;
}

#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

/* host, [v6] or host with a port: the host is a DNS name or an address */
static gboolean parse_hostport(const char *hp, char **host, guint *port)
{
	const char *end, *colon;
	guint64 v;

	if (hp[0] == '[') {
		end = strchr(hp, ']');
		if (!end || end == hp + 1 || !all_of(hp + 1, end - hp - 1, "0123456789abcdefABCDEF:."))
			return FALSE;
		*host = g_strndup(hp + 1, end - hp - 1);
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] && !colon)
			return FALSE;
	} else {
		colon = strchr(hp, ':');
		end = colon ? colon : hp + strlen(hp);
		if (end == hp || end - hp > 253 || hp[0] == '-' || hp[0] == '.' ||
		    !all_of(hp, end - hp, ALNUM ".-"))
			return FALSE;
		*host = g_strndup(hp, end - hp);
	}
	*port = 22;
	if (colon) {
		if (!colon[1] || strlen(colon + 1) > 5 || !all_of(colon + 1, strlen(colon + 1), "0123456789"))
			return FALSE;
		v = g_ascii_strtoull(colon + 1, NULL, 10);
		if (v < 1 || v > 65535)
			return FALSE;
		*port = (guint)v;
	}
	return TRUE;
}

/* An absolute directory without '.', '..' or empty segments (a trailing '/'
 * is dropped); no '%' (nothing is decoded), '?' or '#'. */
static char *parse_base(const char *p)
{
	g_autofree char *t = g_strdup(p);
	gsize n = strlen(t);
	g_auto(GStrv) seg = NULL;

	while (n > 1 && t[n - 1] == '/')
		t[--n] = 0;
	if (t[0] != '/' || n < 2 || n > MAX_BASE || strpbrk(t, "%?#"))
		return NULL;
	seg = g_strsplit(t + 1, "/", -1);
	for (char **s = seg; *s; s++)
		if (!**s || !strcmp(*s, ".") || !strcmp(*s, ".."))
			return NULL;
	return g_steal_pointer(&t);
}

gboolean hv_sftp_parse_url(const char *url, HvSftpConfig *cfg, GError **error)
{
	g_autofree char *auth = NULL, *user = NULL, *host = NULL, *path = NULL;
	const char *p, *slash, *hp;
	char *at;
	guint port = 22;

	if (!url || !g_str_has_prefix(url, "sftp://") || has_ctrl(url)) {
		g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_CONFIG, "%s: not an sftp://[user@]host[:port]/path URL",
			    url && !has_ctrl(url) ? url : "(URL with control characters)");
		return FALSE;
	}
	p = url + 7;
	slash = strchr(p, '/');
	auth = slash ? g_strndup(p, slash - p) : g_strdup(p);
	at = strrchr(auth, '@');
	hp = at ? at + 1 : auth;
	if (at) {
		*at = 0;
		if (!*auth || auth[0] == '-' || strlen(auth) > 64 || !all_of(auth, strlen(auth), ALNUM "._-")) {
			g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_CONFIG, "%s: bad user name", url);
			return FALSE;
		}
		user = g_strdup(auth);
	}
	if (!parse_hostport(hp, &host, &port)) {
		g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_CONFIG,
			    "%s: bad host or port (host, [IPv6] or host:1-65535)", url);
		return FALSE;
	}
	if (!slash || !(path = parse_base(slash))) {
		g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_CONFIG, "%s: the path must be an absolute directory "
			    "below / without '.', '..', empty segments, '%%', '?' or '#'", url);
		return FALSE;
	}
	g_free(cfg->user);
	g_free(cfg->host);
	g_free(cfg->path);
	cfg->user = g_steal_pointer(&user);
	cfg->host = g_steal_pointer(&host);
	cfg->path = g_steal_pointer(&path);
	cfg->port = port;
	return TRUE;
}

void hv_sftp_config_clear(HvSftpConfig *cfg)
{
	g_free(cfg->user);
	g_free(cfg->host);
	g_free(cfg->path);
	g_free(cfg->identity);
	g_free(cfg->known_hosts);
	memset(cfg, 0, sizeof(*cfg));
}

/* Keys come from journals: relative, segments of [A-Za-z0-9._-], no '.' or
 * '..', so that base/key stays below base. */
static gboolean key_ok(const char *key, GError **error)
{
	gsize n = key ? strlen(key) : 0;
	g_auto(GStrv) seg = NULL;

	if (n == 0 || n > MAX_KEY || key[0] == '/' || !all_of(key, n, ALNUM "._-/"))
		goto bad;
	seg = g_strsplit(key, "/", -1);
	for (char **s = seg; *s; s++)
		if (!**s || !strcmp(*s, ".") || !strcmp(*s, ".."))
			goto bad;
	return TRUE;
bad:
	g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_CONFIG, "sftp: bad key '%.64s%s' (relative, segments of "
		    "A-Za-z0-9._-, no '.' or '..', at most %d bytes)", key && !has_ctrl(key) ? key : "?",
		    n > 64 ? "..." : "", MAX_KEY);
	return FALSE;
}

/* ------------------------------------------------------------ watchdog */

static gpointer watchdog(gpointer data)
{
	HvSftp *s = data;

	g_mutex_lock(&s->lock);
	while (!s->quit) {
		if (s->deadline == 0) {
			g_cond_wait(&s->cond, &s->lock);
		} else if (g_get_monotonic_time() < s->deadline) {
			g_cond_wait_until(&s->cond, &s->lock, s->deadline);
		} else {
			/* poll() in libssh wakes up with EOF, the call fails */
			shutdown(s->wfd, SHUT_RDWR);
			s->fired = TRUE;
			s->deadline = 0;
		}
	}
	g_mutex_unlock(&s->lock);
	return NULL;
}

/* The next request has timeout_s from now. */
static void watch(HvSftp *s)
{
	if (!s->thread)
		return;
	g_mutex_lock(&s->lock);
	s->deadline = g_get_monotonic_time() + (gint64)s->timeout_s * G_USEC_PER_SEC;
	g_cond_signal(&s->cond);
	g_mutex_unlock(&s->lock);
}

static void unwatch(HvSftp *s)
{
	if (!s->thread)
		return;
	g_mutex_lock(&s->lock);
	s->deadline = 0;
	g_mutex_unlock(&s->lock);
}

static gboolean timed_out(HvSftp *s)
{
	gboolean f;

	g_mutex_lock(&s->lock);
	f = s->fired;
	g_mutex_unlock(&s->lock);
	return f;
}

static gboolean watchdog_start(HvSftp *s, GError **error)
{
	s->wfd = fcntl(ssh_get_fd(s->ssh), F_DUPFD_CLOEXEC, 3);
	if (s->wfd < 0) {
		g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_FAILED, "sftp %s: dup: %s", s->where,
			    g_strerror(errno));
		return FALSE;
	}
	s->thread = g_thread_try_new("hvdump-sftp", watchdog, s, error);
	return s->thread != NULL;
}

static void watchdog_stop(HvSftp *s)
{
	if (s->thread) {
		g_mutex_lock(&s->lock);
		s->quit = TRUE;
		g_cond_signal(&s->cond);
		g_mutex_unlock(&s->lock);
		g_thread_join(s->thread);
		s->thread = NULL;
	}
	if (s->wfd >= 0)
		close(s->wfd);
	s->wfd = -1;
}

/* ------------------------------------------------------------ errors */

/* Text from the server or libssh goes into one log line: no control
 * characters, bounded. */
static char *clean(const char *t)
{
	char *c = g_strndup(t ? t : "", MAX_SERVER_TEXT);

	for (char *p = c; *p; p++)
		if ((guchar)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return c;
}

static const char *fx_text(int st)
{
	static const char *const text[] = {
		"ok", "end of file", "no such file", "permission denied", "failure", "bad message",
		"no connection", "connection lost", "operation unsupported", "invalid handle",
		"no such path", "file already exists", "write protected", "no media",
	};

	return st >= 0 && st < (int)G_N_ELEMENTS(text) ? text[st] : "error";
}

static gboolean lost(HvSftp *s)
{
	return timed_out(s) || (ssh_get_status(s->ssh) & (SSH_CLOSED | SSH_CLOSED_ERROR));
}

/* Why a request on path failed: the connection (a timeout, a network
 * error) or the server's status for it. */
static void fail_req(HvSftp *s, GError **error, const char *op, const char *path)
{
	g_autofree char *why = clean(ssh_get_error(s->ssh));
	int st;

	if (timed_out(s)) {
		g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_FAILED, "sftp %s: %s %s: no answer within %u s",
			    s->where, op, path, s->timeout_s);
	} else if (lost(s) || !s->sftp) {
		g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_FAILED, "sftp %s: %s %s: connection lost (%s)",
			    s->where, op, path, why);
	} else {
		st = sftp_get_error(s->sftp);
		g_set_error(error, HV_SFTP_ERROR, st == SSH_FX_NO_SUCH_FILE ? HV_SFTP_ERROR_NOT_FOUND
									: HV_SFTP_ERROR_FAILED,
			    "sftp %s: %s %s: %s (%s)", s->where, op, path, fx_text(st), why);
	}
}

static gboolean usable(HvSftp *s, GError **error)
{
	if (!lost(s))
		return TRUE;
	g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_FAILED, "sftp %s: connection lost earlier; reconnect",
		    s->where);
	return FALSE;
}

/* ------------------------------------------------------------ connect */

/* The private key, read from a descriptor checked first: a regular file of
 * root's nobody else may read (no race between the check and the read). */
static ssh_key load_identity(const char *path, GError **error)
{
	struct stat st;
	ssh_key key = NULL;
	char *text;
	gsize len = 0;
	int fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_CONFIG, "sftp identity %s: %s", path,
			    g_strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 077) || st.st_size > MAX_IDENTITY) {
		g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_CONFIG, "sftp identity %s: must be a regular file "
			    "owned by root with mode 0600, at most 64 KiB (is %04o, uid %u)", path,
			    (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid);
		close(fd);
		return NULL;
	}
	text = g_malloc(st.st_size + 1);
	while (len < (gsize)st.st_size) {
		ssize_t n = read(fd, text + len, st.st_size - len);
		if (n <= 0)
			break;
		len += n;
	}
	close(fd);
	text[len] = 0;
	if (ssh_pki_import_privkey_base64(text, NULL, NULL, NULL, &key) != SSH_OK)
		g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_CONFIG, "sftp identity %s: not a private key "
			    "libssh can read without a passphrase", path);
	explicit_bzero(text, st.st_size + 1);
	g_free(text);
	return key;
}

/* libssh expands '%' and '~' in these paths; only plain absolute ones, and
 * a known_hosts others could add keys to is no check at all. A missing file
 * is left to the host key check (its message says what to do). */
static gboolean known_hosts_ok(const char *path, GError **error)
{
	struct stat st;

	if (path[0] != '/' || strchr(path, '%') || has_ctrl(path)) {
		g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_CONFIG,
			    "sftp known_hosts %s: must be an absolute path without '%%'", path);
		return FALSE;
	}
	if (stat(path, &st) != 0)
		return errno == ENOENT;
	if (!S_ISREG(st.st_mode) || (st.st_mode & 022)) {
		g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_CONFIG, "sftp known_hosts %s: must be a regular file "
			    "only its owner can write (is %04o)", path, (unsigned)(st.st_mode & 07777));
		return FALSE;
	}
	return TRUE;
}

/* "ssh-ed25519 SHA256:..." of a public key, for messages. */
static char *key_id(ssh_key key)
{
	unsigned char *hash = NULL;
	size_t hlen = 0;
	char *fp, *id;

	if (!key || ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) != 0)
		return g_strdup("(no key)");
	fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
	id = g_strdup_printf("%s %s", ssh_key_type_to_char(ssh_key_type(key)), fp ? fp : "?");
	ssh_string_free_char(fp);
	ssh_clean_pubkey_hash(&hash);
	return id;
}

static gboolean set_options(HvSftp *s, const HvSftpConfig *cfg, const char *kh, GError **error)
{
	int port = cfg->port ? (int)cfg->port : 22;
	long timeout = s->timeout_s;
	bool no = false;
	int one = 1;

	if (ssh_options_set(s->ssh, SSH_OPTIONS_HOST, cfg->host) < 0 ||
	    ssh_options_set(s->ssh, SSH_OPTIONS_PORT, &port) < 0 ||
	    ssh_options_set(s->ssh, SSH_OPTIONS_USER, cfg->user ? cfg->user : "root") < 0 ||
	    ssh_options_set(s->ssh, SSH_OPTIONS_KNOWNHOSTS, kh) < 0 ||
	    /* only the given file counts, not /etc/ssh/ssh_known_hosts */
	    ssh_options_set(s->ssh, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") < 0 ||
	    ssh_options_set(s->ssh, SSH_OPTIONS_STRICTHOSTKEYCHECK, &one) < 0 ||
	    /* one request at a time: Nagle + delayed ACKs cost 40 ms each */
	    ssh_options_set(s->ssh, SSH_OPTIONS_NODELAY, &one) < 0 ||
	    ssh_options_set(s->ssh, SSH_OPTIONS_PROCESS_CONFIG, &no) < 0 ||
	    ssh_options_set(s->ssh, SSH_OPTIONS_TIMEOUT, &timeout) < 0) {
		g_autofree char *why = clean(ssh_get_error(s->ssh));

		g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_CONFIG, "sftp %s: %s", s->where, why);
		return FALSE;
	}
	return TRUE;
}

/* The command that fetches the server's keys, for the operator (who
 * checks the fingerprint before adding it). */
static char *keyscan(const HvSftpConfig *cfg, const char *kh)
{
	guint port = cfg->port ? cfg->port : 22;

	if (port == 22)
		return g_strdup_printf("ssh-keyscan %s >> %s", cfg->host, kh);
	return g_strdup_printf("ssh-keyscan -p %u %s >> %s", port, cfg->host, kh);
}

/* Only a key known_hosts already holds for this host:port; never written. */
static gboolean check_host_key(HvSftp *s, const HvSftpConfig *cfg, const char *kh, GError **error)
{
	enum ssh_known_hosts_e st = ssh_session_is_known_server(s->ssh);
	g_autofree char *id = NULL, *why = NULL, *scan = NULL;
	ssh_key key = NULL;
	const char *what;

	if (st == SSH_KNOWN_HOSTS_OK)
		return TRUE;
	ssh_get_server_publickey(s->ssh, &key);
	id = key_id(key);
	ssh_key_free(key);
	scan = keyscan(cfg, kh);
	switch (st) {
	case SSH_KNOWN_HOSTS_CHANGED:
		what = "CHANGED: it differs from the one in";
		break;
	case SSH_KNOWN_HOSTS_OTHER:
		what = "is of a type not held for this host in";
		break;
	case SSH_KNOWN_HOSTS_NOT_FOUND:
		what = "is unknown: there is no";
		break;
	case SSH_KNOWN_HOSTS_UNKNOWN:
		what = "is not in";
		break;
	default:
		why = clean(ssh_get_error(s->ssh));
		g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_HOSTKEY, "sftp %s: cannot check host key %s against "
			    "%s: %s", s->where, id, kh, why);
		return FALSE;
	}
	g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_HOSTKEY, "sftp %s: host key %s %s %s: refused%s; once the "
		    "server's administrator confirms this fingerprint, add it to known_hosts (%s%s)", s->where, id,
		    what, kh, st == SSH_KNOWN_HOSTS_CHANGED ? " (a man in the middle, or a reinstalled server)" : "",
		    st == SSH_KNOWN_HOSTS_CHANGED ? "remove the old line, then " : "", scan);
	return FALSE;
}

static gboolean authenticate(HvSftp *s, const HvSftpConfig *cfg, ssh_key key, GError **error)
{
	int rc;
	g_autofree char *id = NULL, *why = NULL;

	watch(s);
	rc = ssh_userauth_publickey(s->ssh, NULL, key);
	unwatch(s);
	if (rc == SSH_AUTH_SUCCESS)
		return TRUE;
	id = key_id(key);
	why = clean(ssh_get_error(s->ssh));
	if (rc == SSH_AUTH_DENIED || rc == SSH_AUTH_PARTIAL)
		g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_AUTH, "sftp %s: identity %s (%s) refused%s",
			    s->where, cfg->identity, id, rc == SSH_AUTH_PARTIAL ? " (more methods wanted)" : "");
	else
		g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_FAILED, "sftp %s: authentication: %s", s->where,
			    why);
	return FALSE;
}

static gboolean open_sftp(HvSftp *s, GError **error)
{
	watch(s);
	s->sftp = sftp_new(s->ssh);
	if (s->sftp && sftp_init(s->sftp) != SSH_OK) {
		fail_req(s, error, "start", "sftp subsystem");
		unwatch(s);
		return FALSE;
	}
	unwatch(s);
	if (!s->sftp) {
		fail_req(s, error, "start", "sftp subsystem");
		return FALSE;
	}
	s->has_fsync = sftp_extension_supported(s->sftp, "fsync@openssh.com", "1");
	s->io = sftp_extension_supported(s->sftp, "limits@openssh.com", "1") ? HV_SFTP_IO_OPENSSH
									    : HV_SFTP_IO_SMALL;
	return TRUE;
}

static HvSftp *sftp_alloc(const HvSftpConfig *cfg, const char *base)
{
	HvSftp *s = g_new0(HvSftp, 1);
	guint port = cfg->port ? cfg->port : 22;
	gboolean v6 = strchr(cfg->host, ':') != NULL;

	g_mutex_init(&s->lock);
	g_cond_init(&s->cond);
	s->wfd = -1;
	s->where = g_strdup_printf("%s@%s%s%s:%u", cfg->user ? cfg->user : "root", v6 ? "[" : "", cfg->host,
				   v6 ? "]" : "", port);
	s->base = g_strdup(base);
	s->rate = cfg->max_send_bytes_per_s;
	s->cancel = cfg->cancel;
	s->timeout_s = cfg->timeout_s ? cfg->timeout_s : DEFAULT_TIMEOUT_S;
	s->io = HV_SFTP_IO_SMALL;
	return s;
}

HvSftp *hv_sftp_connect(const HvSftpConfig *cfg, GError **error)
{
	const char *kh = cfg->known_hosts ? cfg->known_hosts : DEFAULT_KNOWN_HOSTS;
	g_autofree char *why = NULL, *base = NULL;
	ssh_key key;
	HvSftp *s;
	gboolean ok;

	if (!cfg->host || !cfg->path || !cfg->identity) {
		g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_CONFIG, "sftp: host, path and identity are required");
		return NULL;
	}
	/* keys stay below the base only if the base has no '..' either */
	base = parse_base(cfg->path);
	if (!base || strchr(cfg->host, '@') || has_ctrl(cfg->host)) {
		g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_CONFIG, "sftp: bad host or base directory");
		return NULL;
	}
	if (!known_hosts_ok(kh, error) || !(key = load_identity(cfg->identity, error)))
		return NULL;
	s = sftp_alloc(cfg, base);
	s->ssh = ssh_new();
	ok = s->ssh && set_options(s, cfg, kh, error);
	if (ok && ssh_connect(s->ssh) != SSH_OK) {
		why = clean(ssh_get_error(s->ssh));
		g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_FAILED, "sftp %s: connect: %s", s->where, why);
		ok = FALSE;
	}
	ok = ok && watchdog_start(s, error) && check_host_key(s, cfg, kh, error) &&
	     authenticate(s, cfg, key, error) && open_sftp(s, error);
	ssh_key_free(key);
	if (!ok) {
		if (s->ssh == NULL)
			g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_FAILED, "sftp: ssh_new failed");
		hv_sftp_free(s);
		return NULL;
	}
	return s;
}

void hv_sftp_free(HvSftp *s)
{
	if (!s)
		return;
	/* closing talks to the server too: bounded like any request */
	watch(s);
	if (s->sftp)
		sftp_free(s->sftp);
	if (s->ssh) {
		if (ssh_is_connected(s->ssh))
			ssh_disconnect(s->ssh);
		ssh_free(s->ssh);
	}
	watchdog_stop(s);
	g_mutex_clear(&s->lock);
	g_cond_clear(&s->cond);
	g_free(s->where);
	g_free(s->base);
	g_free(s);
}

/* ------------------------------------------------------------ requests */

/* lstat: 1 and *out (caller frees) when something is there, 0 when not,
 * -1 on an error. */
static int lstat_path(HvSftp *s, const char *path, sftp_attributes *out, GError **error)
{
	sftp_attributes a;

	watch(s);
	a = sftp_lstat(s->sftp, path);
	unwatch(s);
	if (a) {
		*out = a;
		return 1;
	}
	if (!lost(s) && sftp_get_error(s->sftp) == SSH_FX_NO_SUCH_FILE)
		return 0;
	fail_req(s, error, "stat", path);
	return -1;
}

static gboolean is_regular(sftp_attributes a)
{
	return a->type == SSH_FILEXFER_TYPE_REGULAR && (a->flags & SSH_FILEXFER_ATTR_SIZE);
}

static gboolean is_dir(HvSftp *s, const char *path, int *r, GError **error)
{
	sftp_attributes a = NULL;
	gboolean d;

	watch(s);
	a = sftp_stat(s->sftp, path);
	unwatch(s);
	if (!a) {
		*r = !lost(s) && sftp_get_error(s->sftp) == SSH_FX_NO_SUCH_FILE ? 0 : -1;
		if (*r < 0)
			fail_req(s, error, "stat", path);
		return FALSE;
	}
	d = a->type == SSH_FILEXFER_TYPE_DIRECTORY;
	sftp_attributes_free(a);
	*r = 1;
	if (!d)
		g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_EXISTS, "sftp %s: %s is not a directory", s->where,
			    path);
	return d;
}

/* mkdir (0700) unless it is there already (perhaps made meanwhile). */
static gboolean make_dir(HvSftp *s, const char *path, GError **error)
{
	g_autoptr(GError) e = NULL;
	int r, rc;

	if (is_dir(s, path, &r, error))
		return TRUE;
	if (r != 0)
		return FALSE;
	watch(s);
	rc = sftp_mkdir(s->sftp, path, 0700);
	unwatch(s);
	if (rc == 0)
		return TRUE;
	/* the mkdir's own status, before the stat replaces it */
	fail_req(s, &e, "mkdir", path);
	if (is_dir(s, path, &r, NULL))
		return TRUE;
	g_propagate_error(error, g_steal_pointer(&e));
	return FALSE;
}

/* mkdir -p of path's directory: usually it is there (one stat), else
 * each level from the top. At most MAX_BASE + MAX_KEY levels. */
static gboolean make_parents(HvSftp *s, const char *path, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(path);
	int r;

	if (is_dir(s, dir, &r, error))
		return TRUE;
	if (r != 0)
		return FALSE;
	for (char *p = strchr(dir + 1, '/');; p = strchr(p + 1, '/')) {
		if (p)
			*p = 0;
		if (!make_dir(s, dir, error))
			return FALSE;
		if (!p)
			return TRUE;
		*p = '/';
	}
}

static gboolean close_file(HvSftp *s, sftp_file f, const char *path, GError **error)
{
	int rc;

	watch(s);
	rc = sftp_close(f);
	unwatch(s);
	if (rc != SSH_NO_ERROR && error && !*error)
		fail_req(s, error, "close", path);
	return rc == SSH_NO_ERROR;
}

static sftp_file open_file(HvSftp *s, const char *path, int flags, GError **error)
{
	sftp_file f;

	watch(s);
	f = sftp_open(s->sftp, path, flags, 0600);
	unwatch(s);
	if (!f)
		fail_req(s, error, "open", path);
	return f;
}

static gboolean remove_file(HvSftp *s, const char *path, GError **error)
{
	int rc;

	watch(s);
	rc = sftp_unlink(s->sftp, path);
	unwatch(s);
	if (rc != 0)
		fail_req(s, error, "remove", path);
	return rc == 0;
}

static gboolean sync_file(HvSftp *s, sftp_file f, const char *path, GError **error)
{
	int rc;

	if (!s->has_fsync)
		return TRUE;
	watch(s);
	rc = sftp_fsync(f);
	unwatch(s);
	if (rc != 0)
		fail_req(s, error, "fsync", path);
	return rc == 0;
}

/* Reads exactly len bytes at the file's offset into buf; each request
 * returns at least one byte or fails, so at most len requests. */
static gboolean read_exact(HvSftp *s, sftp_file f, void *buf, gsize len, const char *path, GError **error)
{
	gsize got = 0;
	ssize_t n;

	while (got < len) {
		watch(s);
		n = sftp_read(f, (char *)buf + got, MIN(s->io, len - got));
		unwatch(s);
		if (n < 0) {
			fail_req(s, error, "read", path);
			return FALSE;
		}
		if (n == 0) {
			g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_MISMATCH, "sftp %s: %s: shorter than "
				    "expected (%zu of %zu bytes)", s->where, path, got, len);
			return FALSE;
		}
		got += n;
	}
	return TRUE;
}

static gboolean write_all(HvSftp *s, sftp_file f, const void *buf, gsize len, const char *path, GError **error)
{
	gsize done = 0, n;

	while (done < len) {
		n = MIN(s->io, len - done);
		watch(s);
		if (sftp_write(f, (const char *)buf + done, n) != (ssize_t)n) {
			unwatch(s);
			fail_req(s, error, "write", path);
			return FALSE;
		}
		unwatch(s);
		done += n;
	}
	return TRUE;
}

/* ------------------------------------------------------------ ship */

/* SHA-256 of the first size bytes of a remote file. */
static char *remote_sha256(HvSftp *s, const char *path, guint64 size, GError **error)
{
	g_autoptr(GChecksum) ck = g_checksum_new(G_CHECKSUM_SHA256);
	g_autofree char *buf = g_malloc(s->io);
	sftp_file f = open_file(s, path, O_RDONLY, error);
	gboolean ok = f != NULL;

	for (guint64 off = 0; ok && off < size; off += MIN(s->io, size - off)) {
		gsize n = MIN(s->io, size - off);

		ok = read_exact(s, f, buf, n, path, error);
		if (ok)
			g_checksum_update(ck, (guchar *)buf, n);
	}
	if (f && !close_file(s, f, path, ok ? error : NULL))
		ok = FALSE;
	return ok ? g_strdup(g_checksum_get_string(ck)) : NULL;
}

/* What is under the final name: 0 nothing, 1 this very object (size and
 * SHA-256), -1 an error or another object (HV_SFTP_ERROR_EXISTS). */
static int final_state(HvSftp *s, const char *path, guint64 size, const char *sha, GError **error)
{
	sftp_attributes a = NULL;
	g_autofree char *got = NULL;
	guint64 have;
	int r = lstat_path(s, path, &a, error);

	if (r <= 0)
		return r;
	have = a->size;
	r = is_regular(a);
	sftp_attributes_free(a);
	if (!r || have != size) {
		g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_EXISTS, "sftp %s: %s holds another object (%s%"
			    G_GUINT64_FORMAT " bytes, ours %" G_GUINT64_FORMAT "): not replaced", s->where, path,
			    r ? "" : "not a regular file, ", have, size);
		return -1;
	}
	if (!(got = remote_sha256(s, path, size, error)))
		return -1;
	if (g_ascii_strcasecmp(got, sha) != 0) {
		g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_EXISTS, "sftp %s: %s holds another object (SHA-256 "
			    "%s, ours %s): not replaced", s->where, path, got, sha);
		return -1;
	}
	return 1;
}

/* Where to resume KEY.part: its length when a regular file of at most size
 * bytes, else 0 (*trunc: start over). */
static gboolean part_offset(HvSftp *s, const char *part, guint64 size, guint64 *off, gboolean *trunc,
			    GError **error)
{
	sftp_attributes a = NULL;
	int r = lstat_path(s, part, &a, error);

	*off = 0;
	*trunc = TRUE;
	if (r <= 0)
		return r == 0;
	if (!is_regular(a)) {
		sftp_attributes_free(a);
		g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_EXISTS, "sftp %s: %s is not a regular file",
			    s->where, part);
		return FALSE;
	}
	if (a->size <= size) {
		*off = a->size;
		*trunc = FALSE;
	}
	sftp_attributes_free(a);
	return TRUE;
}

/* Exactly len bytes at off; errno ENODATA when the file ends before. */
static gboolean pread_exact(int fd, void *buf, gsize len, guint64 off)
{
	gsize got = 0;
	ssize_t n;

	while (got < len) {
		n = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ENODATA;
			return FALSE;
		}
		got += n;
	}
	return TRUE;
}

/* Keeps the average at most rate bytes/s since t0 (sleeps are not requests:
 * the watchdog is off meanwhile). */
static void throttle(HvSftp *s, gint64 t0, guint64 sent)
{
	gint64 due;

	if (!s->rate)
		return;
	due = t0 + (gint64)((double)sent * G_USEC_PER_SEC / (double)s->rate);
	if (due > g_get_monotonic_time())
		g_usleep(due - g_get_monotonic_time());
}

/* fd's [off, size) to the file at its current offset. With a rate, smaller
 * requests (an eighth of a second's worth) keep the pace even. */
static gboolean send_range(HvSftp *s, sftp_file f, const char *part, int fd, guint64 off, guint64 size,
			   GError **error)
{
	gsize chunk = s->rate ? (gsize)CLAMP(s->rate / 8, 4096, s->io) : s->io;
	g_autofree char *buf = g_malloc(chunk);
	gint64 t0 = g_get_monotonic_time();
	guint64 sent = 0;

	while (off < size) {
		gsize n = (gsize)MIN((guint64)chunk, size - off);

		if (s->cancel != NULL && g_atomic_int_get(s->cancel)) {
			g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_FAILED, "sftp: %s: cancelled (hvdumpd stops)",
				    part);
			return FALSE;
		}
		if (!pread_exact(fd, buf, n, off)) {
			g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_FAILED, "sftp: local dump at %" G_GUINT64_FORMAT
				    ": %s", off, errno == ENODATA ? "shorter than announced" : g_strerror(errno));
			return FALSE;
		}
		if (!write_all(s, f, buf, n, part, error))
			return FALSE;
		off += n;
		sent += n;
		throttle(s, t0, sent);
	}
	return TRUE;
}

/* KEY.part from where it stopped to size, synced. */
static gboolean upload_part(HvSftp *s, const char *part, int fd, guint64 size, GError **error)
{
	guint64 off;
	gboolean trunc, ok;
	sftp_file f;

	if (!part_offset(s, part, size, &off, &trunc, error))
		return FALSE;
	f = open_file(s, part, O_WRONLY | O_CREAT | (trunc ? O_TRUNC : 0), error);
	if (!f)
		return FALSE;
	sftp_seek64(f, off); /* sets the handle's offset, nothing sent */
	ok = send_range(s, f, part, fd, off, size, error) && sync_file(s, f, part, error);
	return close_file(s, f, part, ok ? error : NULL) && ok;
}

/* Reads KEY.part back: its size and SHA-256 must be ours, else it goes (the
 * next attempt starts over instead of resuming on bad bytes). */
static gboolean verify_part(HvSftp *s, const char *part, guint64 size, const char *sha, GError **error)
{
	g_autoptr(GError) e = NULL;
	sftp_attributes a = NULL;
	g_autofree char *got = NULL;
	guint64 have = 0;
	int r = lstat_path(s, part, &a, error);

	if (r < 0)
		return FALSE;
	if (r > 0) {
		have = is_regular(a) ? a->size : G_MAXUINT64;
		sftp_attributes_free(a);
	}
	if (have == size) {
		got = remote_sha256(s, part, size, &e);
		if (!got && !g_error_matches(e, HV_SFTP_ERROR, HV_SFTP_ERROR_MISMATCH)) {
			g_propagate_error(error, g_steal_pointer(&e));
			return FALSE;
		}
		if (got && g_ascii_strcasecmp(got, sha) == 0)
			return TRUE;
	}
	g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_MISMATCH, "sftp %s: %s read back as %s%s%" G_GUINT64_FORMAT
		    " bytes, sent %s, %" G_GUINT64_FORMAT " bytes: removed", s->where, part, got ? got : "",
		    got ? ", " : "", have == G_MAXUINT64 ? 0 : have, sha, size);
	remove_file(s, part, NULL);
	return FALSE;
}

static gboolean sha_ok(const char *sha, GError **error)
{
	if (sha && strlen(sha) == 64 && all_of(sha, 64, "0123456789abcdefABCDEF"))
		return TRUE;
	g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_CONFIG, "sftp: the SHA-256 must be 64 hex digits");
	return FALSE;
}

/* .part → KEY; the server does not replace an existing KEY (v3 RENAME), so
 * a failure with KEY there is compared: ours, or another object. */
static gboolean publish(HvSftp *s, const char *part, const char *path, guint64 size, const char *sha,
			GError **error)
{
	g_autoptr(GError) e = NULL, e2 = NULL;
	int rc, r;

	watch(s);
	rc = sftp_rename(s->sftp, part, path);
	unwatch(s);
	if (rc == 0)
		return TRUE;
	fail_req(s, &e, "rename to", path);
	r = final_state(s, path, size, sha, &e2);
	if (r > 0 || g_error_matches(e2, HV_SFTP_ERROR, HV_SFTP_ERROR_EXISTS))
		remove_file(s, part, NULL);
	if (r > 0)
		return TRUE;
	g_propagate_error(error, r == 0 ? g_steal_pointer(&e) : g_steal_pointer(&e2));
	return FALSE;
}

gboolean hv_sftp_ship(HvSftp *s, const char *key, int fd, guint64 size, const char *sha256_hex,
		      GError **error)
{
	g_autofree char *path = NULL, *part = NULL;
	int r;

	if (!key_ok(key, error) || !sha_ok(sha256_hex, error) || !usable(s, error))
		return FALSE;
	path = g_strconcat(s->base, "/", key, NULL);
	part = g_strconcat(path, ".part", NULL);
	r = final_state(s, path, size, sha256_hex, error);
	if (r != 0)
		return r > 0;
	return make_parents(s, path, error) && upload_part(s, part, fd, size, error) &&
	       verify_part(s, part, size, sha256_hex, error) && publish(s, part, path, size, sha256_hex, error);
}

/* ------------------------------------------------------------ small objects */

/* The whole file at path, at most max bytes. */
static GBytes *read_whole(HvSftp *s, const char *path, gsize max, GError **error)
{
	sftp_file f = open_file(s, path, O_RDONLY, error);
	sftp_attributes a = NULL;
	char *buf = NULL;
	guint64 size = 0;
	gboolean ok = f != NULL;
	char extra;

	if (ok) {
		watch(s);
		a = sftp_fstat(f);
		unwatch(s);
		ok = a != NULL;
		if (!ok)
			fail_req(s, error, "stat", path);
	}
	if (ok) {
		size = (a->flags & SSH_FILEXFER_ATTR_SIZE) ? a->size : G_MAXUINT64;
		sftp_attributes_free(a);
		ok = size <= max;
		if (!ok)
			g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_FAILED, "sftp %s: %s: larger than %zu bytes",
				    s->where, path, max);
	}
	if (ok) {
		buf = g_malloc(size ? size : 1);
		ok = read_exact(s, f, buf, size, path, error);
	}
	/* it may have grown since the fstat: one more byte says so */
	if (ok && read_exact(s, f, &extra, 1, path, NULL)) {
		g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_FAILED, "sftp %s: %s: changed while read", s->where,
			    path);
		ok = FALSE;
	}
	if (f && !close_file(s, f, path, ok ? error : NULL))
		ok = FALSE;
	if (!ok) {
		g_free(buf);
		return NULL;
	}
	return g_bytes_new_take(buf, size);
}

GBytes *hv_sftp_get(HvSftp *s, const char *key, gsize max, GError **error)
{
	g_autofree char *path = NULL;

	if (!key_ok(key, error) || !usable(s, error))
		return NULL;
	path = g_strconcat(s->base, "/", key, NULL);
	return read_whole(s, path, max, error);
}

/* KEY.part written, synced and read back. */
static gboolean put_part(HvSftp *s, const char *part, const void *data, gsize len, GError **error)
{
	g_autoptr(GBytes) back = NULL;
	sftp_file f = open_file(s, part, O_WRONLY | O_CREAT | O_TRUNC, error);
	gboolean ok = f != NULL;

	ok = ok && write_all(s, f, data, len, part, error) && sync_file(s, f, part, error);
	if (f && !close_file(s, f, part, ok ? error : NULL))
		ok = FALSE;
	if (ok && (back = read_whole(s, part, len, error)) == NULL)
		ok = FALSE;
	if (ok && (g_bytes_get_size(back) != len || (len && memcmp(g_bytes_get_data(back, NULL), data, len)))) {
		g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_MISMATCH, "sftp %s: %s read back differs: removed",
			    s->where, part);
		remove_file(s, part, NULL);
		ok = FALSE;
	}
	return ok;
}

/* Rename that may replace: v3 RENAME does not (and libssh 0.10 has no
 * posix-rename@openssh.com), so an old regular file goes first; a reader
 * may miss the object for that moment. */
static gboolean replace(HvSftp *s, const char *part, const char *path, GError **error)
{
	g_autoptr(GError) e = NULL;
	sftp_attributes a = NULL;
	int rc, r;

	watch(s);
	rc = sftp_rename(s->sftp, part, path);
	unwatch(s);
	if (rc == 0)
		return TRUE;
	fail_req(s, &e, "rename to", path);
	r = lstat_path(s, path, &a, error);
	if (r <= 0) {
		if (r == 0)
			g_propagate_error(error, g_steal_pointer(&e));
		return FALSE;
	}
	r = is_regular(a);
	sftp_attributes_free(a);
	if (!r) {
		g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_EXISTS, "sftp %s: %s is not a regular file: not "
			    "replaced", s->where, path);
		return FALSE;
	}
	if (!remove_file(s, path, error))
		return FALSE;
	watch(s);
	rc = sftp_rename(s->sftp, part, path);
	unwatch(s);
	if (rc != 0)
		fail_req(s, error, "rename to", path);
	return rc == 0;
}

gboolean hv_sftp_put(HvSftp *s, const char *key, const void *data, gsize len, GError **error)
{
	g_autofree char *path = NULL, *part = NULL;

	if (!key_ok(key, error) || !usable(s, error))
		return FALSE;
	path = g_strconcat(s->base, "/", key, NULL);
	part = g_strconcat(path, ".part", NULL);
	return make_parents(s, path, error) && put_part(s, part, data, len, error) &&
	       replace(s, part, path, error);
}
