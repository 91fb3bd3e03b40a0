/* hv-sftp.h — shipping dumps to an sftp target (issue 12), as kdump's
 * users do with KDUMP_SAVEDIR=sftp://: libssh does SSH and SFTP; the host
 * key must already be known (known_hosts), an unknown or changed key is
 * refused, never accepted on first use.
 *
 * Keys are paths relative to the target's base directory
 * ("dumps/2026/12/05/ID.kdump"); directories are created as needed.
 * Objects appear under their final name only when whole: written as
 * KEY.part, synced, read back and checked, then renamed.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
	char *user;          /* from the URL; NULL: root */
	char *host;
	guint port;          /* 22 */
	char *path;          /* base directory on the server, absolute, no trailing '/' */
	char *identity;      /* private key file (policy credentials=): root-owned, 0600 */
	char *known_hosts;   /* NULL: /root/.ssh/known_hosts */
	guint64 max_send_bytes_per_s; /* 0: unlimited (policy upload_rate=) */
	guint timeout_s;     /* connect and each operation; default 30 */
	const gint *cancel;  /* non-zero (g_atomic_int_set) stops a transfer between two
			      * writes: HV_SFTP_ERROR_FAILED */
} HvSftpConfig;

typedef struct HvSftp HvSftp;

/* sftp://[user@]host[:port]/path → cfg (user, host, port, path). */
gboolean hv_sftp_parse_url(const char *url, HvSftpConfig *cfg, GError **error);
void hv_sftp_config_clear(HvSftpConfig *cfg);

/* Connects, checks the server's host key against known_hosts (unknown or
 * changed: HV_SFTP_ERROR_HOSTKEY), authenticates with the identity
 * (HV_SFTP_ERROR_AUTH), opens the SFTP channel. */
HvSftp *hv_sftp_connect(const HvSftpConfig *cfg, GError **error);
void hv_sftp_free(HvSftp *s);

/* Ships fd's bytes [0, size) to KEY. When KEY exists with this size and
 * SHA-256, nothing is sent (TRUE). Else it resumes KEY.part from its current
 * length when that is at most size (a longer .part starts over), syncs it,
 * reads it back and compares the SHA-256 with sha256_hex (a mismatch
 * removes the .part: HV_SFTP_ERROR_MISMATCH), then renames it to KEY.
 * A different object already under KEY is never replaced
 * (HV_SFTP_ERROR_EXISTS). */
gboolean hv_sftp_ship(HvSftp *s, const char *key, int fd, guint64 size, const char *sha256_hex,
		      GError **error);
/* A small object (a manifest): KEY.part, then rename over KEY. */
gboolean hv_sftp_put(HvSftp *s, const char *key, const void *data, gsize len, GError **error);
/* Whole object, at most max bytes (larger: error). */
GBytes *hv_sftp_get(HvSftp *s, const char *key, gsize max, GError **error);

#define HV_SFTP_ERROR hv_sftp_error_quark()
GQuark hv_sftp_error_quark(void);
typedef enum {
	HV_SFTP_ERROR_FAILED,   /* network, server: worth a retry */
	HV_SFTP_ERROR_HOSTKEY,  /* unknown or changed host key: refused */
	HV_SFTP_ERROR_AUTH,     /* the identity was refused */
	HV_SFTP_ERROR_CONFIG,   /* bad URL, identity or known_hosts file */
	HV_SFTP_ERROR_MISMATCH, /* what the server holds is not what was sent */
	HV_SFTP_ERROR_EXISTS,   /* another object under the key */
	HV_SFTP_ERROR_NOT_FOUND,
} HvSftpError;

G_END_DECLS
