/* hv-config.h — hvdumpd's configuration: the daemon's settings and the
 * policies that say what happens when a guest panics.
 *
 * Owns: the keyfile format of hvdumpd.conf(5) and of policy files, the
 * policy model, matching a VM name to its policy (first match wins), the
 * dump file-name template, and errors that name file:line. It knows
 * nothing of QEMU, libvirt or captures: the daemon asks it questions.
 *
 *   [daemon]                       settings (hvdumpd.conf only)
 *   [policy NAME]                  a policy; inline ones come first, then
 *                                  those of policy-files=, in file order
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
	HV_POST_RESUME,       /* let the guest go on (after an oops: always) */
	HV_POST_RESET,        /* hard reset, the guest boots again */
	HV_POST_POWEROFF,     /* QEMU quits / libvirt destroys the domain */
	HV_POST_KEEP_PAUSED,  /* stays paused for a person to look at */
} HvPostAction;

typedef enum {
	HV_LOW_SPACE_DEGRADE, /* write a smaller dump if one fits, else skip */
	HV_LOW_SPACE_SKIP,    /* no dump; the post-action still runs */
} HvLowSpace;

/* keep_local=: what becomes of the local dump once a remote target holds
 * it (verified). Until then it is never pruned, except with no. */
typedef enum {
	HV_KEEP_LOCAL_YES,            /* kept; retention (keep=, max-bytes=) as usual */
	HV_KEEP_LOCAL_UNTIL_UPLOADED, /* removed (with its report) once uploaded */
	HV_KEEP_LOCAL_NO,             /* removed once uploaded; while it waits,
				       * retention may remove it (the upload is
				       * then abandoned, and logged) */
} HvKeepLocal;

typedef struct {
	char *name;                /* NAME of [policy NAME] */
	char **match;              /* globs on the VM name (g_pattern_match_simple);
				    * never NULL, at least one entry */
	char *format;              /* "elf" (the formats hvdump writes) */
	int dump_level;            /* makedumpfile's -d, 0..31; formats without
				    * levels accept 0 only */
	char *output_dir;          /* absolute */
	char *file_name;           /* template, see hv_policy_file_name() */
	HvPostAction post_action;
	guint keep;                /* dumps kept per VM in output_dir; 0: all */
	guint64 max_bytes;         /* dumps in output_dir in all; 0: no budget */
	guint64 min_free;          /* bytes left free in output_dir's filesystem */
	HvLowSpace on_low_space;
	guint max_dumps_per_hour;  /* per VM; 0: no limit */
	char **hook;               /* argv of the notification command, or NULL */
	guint hook_timeout_s;      /* > 0 */
	/* shipping (issue 12): target= s3://bucket/prefix or
	 * sftp://[user@]host[:port]/path; NULL: the dump stays in output_dir
	 * (target= an absolute directory sets output_dir) */
	char *target;
	char *credentials;         /* s3: keyfile [s3]; sftp: private key; NULL: default */
	char *endpoint;            /* s3 endpoint URL, NULL: the credentials file's */
	char *region;              /* s3 signing region, NULL: the credentials file's */
	char *ca_file;             /* NULL: the system CA store */
	gboolean virtual_host;     /* addressing=virtual-host (default path) */
	char *known_hosts;         /* sftp, NULL: /root/.ssh/known_hosts */
	HvKeepLocal keep_local;
	guint64 upload_rate;       /* bytes per second, 0: no limit */
	char *file;                /* where the group was defined, for messages */
	int line;
} HvPolicy;

typedef struct {
	char *path;                /* the file this was read from */
	char *socket_dir;          /* QMP sockets watched with inotify, or NULL */
	char **sockets;            /* QMP sockets listed, NULL-terminated, may be empty */
	char *libvirt_uri;         /* NULL: no libvirt */
	guint workers;             /* concurrent captures, 1..64 */
	char *control_socket;      /* absolute */
	char *state_dir;           /* absolute */
	guint progress_interval_s; /* a progress log line per capture this often; 0: none */
	guint monitor_timeout_s;   /* each monitor command, 1..3600 */
	char *host_name;           /* in manifests and upload ids; default: gethostname */
	char *metrics_file;        /* Prometheus textfile; NULL: none */
	GPtrArray *policies;       /* HvPolicy*, in match order; the last one matches "*" */
} HvConfig;

/* Defaults (what an empty file gives). */
#define HV_CONFIG_DEFAULT_PATH "/etc/hvdump/hvdumpd.conf"
#define HV_CONFIG_DEFAULT_CONTROL "/run/hvdump/control.sock"
#define HV_CONFIG_DEFAULT_STATE_DIR "/var/lib/hvdump"
#define HV_CONFIG_DEFAULT_OUTPUT_DIR "/var/crash/hvdump"
#define HV_CONFIG_DEFAULT_FILE_NAME "{name}-{time}-{event}.vmcore"

/* Reads path (and the policy files it names). Errors are one line:
 * "FILE:LINE: what is wrong" (HV_ERROR_USAGE) — a syntax error, an unknown
 * group, a bad value, a policy-files= entry that cannot be read. Unknown
 * keys are not errors: each adds "FILE:LINE: unknown key 'K' in [GROUP]
 * (ignored)" to warnings (when not NULL). When no policy matches "*", a
 * built-in last policy does (name "builtin-default": elf, level 0,
 * HV_CONFIG_DEFAULT_OUTPUT_DIR, HV_CONFIG_DEFAULT_FILE_NAME, keep-paused, keep 0,
 * no budget, min-free 0, degrade, no rate limit, no hook). */
HvConfig *hv_config_load(const char *path, GPtrArray *warnings, GError **error);
void hv_config_free(HvConfig *cfg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HvConfig, hv_config_free)

/* The first policy whose globs match vm_name (never NULL). */
const HvPolicy *hv_config_policy_for(const HvConfig *cfg, const char *vm_name);

const char *hv_post_action_name(HvPostAction a);
const char *hv_keep_local_name(HvKeepLocal k); /* "yes", "until-uploaded", "no" */ /* "resume", "reset", "poweroff", "keep-paused" */
gboolean hv_post_action_parse(const char *s, HvPostAction *a_ret);

/* The dump's file name (no directory) from the policy's template:
 * {name} VM name, {uuid} VM UUID ("unknown" when not known), {time} UTC
 * time as 20261123T220127Z, {event} "panic" | "oops" | "on-demand",
 * {{ and }} literal braces. Every substituted value is made file-name safe
 * (only [A-Za-z0-9._+-] kept, others become '_', at most 64 bytes each, never
 * "." or ".."); the result never contains '/' and ends in what the template
 * ends in. */
char *hv_policy_file_name(const HvPolicy *p, const char *vm_name, const char *uuid,
			  GDateTime *when, const char *event);

/* "512", "64M", "2GiB" (K, M, G, T: powers of 1024) → bytes; FALSE if malformed. */
gboolean hv_config_parse_size(const char *v, guint64 *ret);

G_END_DECLS
