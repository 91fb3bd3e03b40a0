/* test-config.c — hvdumpd.conf and policy files: defaults, every key, match
 * order, the built-in last policy, policy-files=, errors that name FILE:LINE,
 * warnings for unknown keys, sizes, and the dump file-name template. */
#include <string.h>
#include <unistd.h>

#include "hv-config.h"
#include "hv-error.h"

static char *tmp;

/* Writes text to tmp/name (directories made); returns the path. */
static char *write_file(const char *name, const char *text)
{
	char *path = g_build_filename(tmp, name, NULL);
	g_autofree char *dir = g_path_get_dirname(path);

	g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
	g_assert_true(g_file_set_contents(path, text, -1, NULL));
	return path;
}

static void rm_rf(const char *path)
{
	g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
	const char *n;

	while (d != NULL && (n = g_dir_read_name(d)) != NULL) {
		g_autofree char *p = g_build_filename(path, n, NULL);

		if (g_file_test(p, G_FILE_TEST_IS_DIR) && !g_file_test(p, G_FILE_TEST_IS_SYMLINK))
			rm_rf(p);
		else
			unlink(p);
	}
	rmdir(path);
}

/* Loads text as c.conf; it must load; warnings (may be NULL) are kept. */
static HvConfig *load_ok(const char *text, GPtrArray *warnings)
{
	g_autofree char *path = write_file("c.conf", text);
	g_autoptr(GError) error = NULL;
	HvConfig *cfg = hv_config_load(path, warnings, &error);

	g_assert_no_error(error);
	g_assert_nonnull(cfg);
	return cfg;
}

/* Loading path fails with one line starting "where:" and containing what. */
static void assert_fails(const char *path, const char *where, const char *what)
{
	g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error = NULL;
	g_autoptr(HvConfig) cfg = hv_config_load(path, warnings, &error);
	g_autofree char *prefix = g_strconcat(where, ": ", NULL);

	if (cfg != NULL)
		g_error("%s loaded; expected \"%s ... %s ...\"", path, prefix, what);
	g_assert_error(error, HV_ERROR, HV_ERROR_USAGE);
	if (!g_str_has_prefix(error->message, prefix) || strstr(error->message, what) == NULL)
		g_error("expected \"%s ... %s ...\", got \"%s\"", prefix, what, error->message);
	g_assert_null(strchr(error->message, '\n'));
}

static const HvPolicy *policy(const HvConfig *cfg, guint i)
{
	g_assert_cmpuint(i, <, cfg->policies->len);
	return cfg->policies->pdata[i];
}

static void assert_builtin_default(const HvPolicy *p)
{
	g_assert_cmpstr(p->name, ==, "builtin-default");
	g_assert_cmpuint(g_strv_length(p->match), ==, 1);
	g_assert_cmpstr(p->match[0], ==, "*");
	g_assert_cmpstr(p->format, ==, "elf");
	g_assert_cmpint(p->dump_level, ==, 0);
	g_assert_cmpstr(p->output_dir, ==, HV_CONFIG_DEFAULT_OUTPUT_DIR);
	g_assert_cmpstr(p->file_name, ==, HV_CONFIG_DEFAULT_FILE_NAME);
	g_assert_cmpint(p->post_action, ==, HV_POST_KEEP_PAUSED);
	g_assert_cmpuint(p->keep, ==, 0);
	g_assert_cmpuint(p->max_bytes, ==, 0);
	g_assert_cmpuint(p->min_free, ==, 0);
	g_assert_cmpint(p->on_low_space, ==, HV_LOW_SPACE_DEGRADE);
	g_assert_cmpuint(p->max_dumps_per_hour, ==, 0);
	g_assert_null(p->hook);
	g_assert_cmpuint(p->hook_timeout_s, ==, 30);
	g_assert_null(p->file);
}

static void test_defaults_from_empty_file(void)
{
	g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(HvConfig) cfg = load_ok("", warnings);
	g_autofree char *path = g_build_filename(tmp, "c.conf", NULL);

	g_assert_cmpstr(cfg->path, ==, path);
	g_assert_null(cfg->socket_dir);
	g_assert_nonnull(cfg->sockets);
	g_assert_null(cfg->sockets[0]);
	g_assert_null(cfg->libvirt_uri);
	g_assert_cmpuint(cfg->workers, ==, 2);
	g_assert_cmpstr(cfg->control_socket, ==, HV_CONFIG_DEFAULT_CONTROL);
	g_assert_cmpstr(cfg->state_dir, ==, HV_CONFIG_DEFAULT_STATE_DIR);
	g_assert_cmpuint(cfg->progress_interval_s, ==, 10);
	g_assert_cmpuint(cfg->monitor_timeout_s, ==, 30);
	g_assert_cmpuint(cfg->policies->len, ==, 1);
	assert_builtin_default(policy(cfg, 0));
	g_assert_cmpuint(warnings->len, ==, 0);
}

static void test_every_key_parsed(void)
{
	g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(HvConfig) cfg = load_ok(
		"# a comment\n"
		"[daemon]\n"
		"socket-dir = /run/q\n"
		"sockets=/run/a.sock; /run/b.sock;\n"
		"libvirt-uri=qemu:///system\n"
		"workers=64\n"
		"control-socket=/run/x/c.sock\n"
		"state-dir=/var/lib/x\n"
		"progress-interval=0\n"
		"monitor-timeout=3600\n"
		"\n"
		"[policy  all things ]\n"
		"match=db-*;web-?\n"
		"format=kdump-zstd\n"
		"dump-level=31\n"
		"output-dir=/srv/dumps\n"
		"file-name={uuid}-{{x}}.core\n"
		"post-action=reset\n"
		"keep=100000\n"
		"max-bytes=10G\n"
		"min-free=512MiB\n"
		"on-low-space=skip\n"
		"max-dumps-per-hour=1000000\n"
		"hook=/usr/bin/logger -t 'hv dump' \"a b\"\n"
		"hook-timeout=3600\n", warnings);
	const HvPolicy *p = policy(cfg, 0);
	g_autofree char *path = g_build_filename(tmp, "c.conf", NULL);

	g_assert_cmpuint(warnings->len, ==, 0);
	g_assert_cmpstr(cfg->socket_dir, ==, "/run/q");
	g_assert_cmpuint(g_strv_length(cfg->sockets), ==, 2);
	g_assert_cmpstr(cfg->sockets[0], ==, "/run/a.sock");
	g_assert_cmpstr(cfg->sockets[1], ==, "/run/b.sock");
	g_assert_cmpstr(cfg->libvirt_uri, ==, "qemu:///system");
	g_assert_cmpuint(cfg->workers, ==, 64);
	g_assert_cmpstr(cfg->control_socket, ==, "/run/x/c.sock");
	g_assert_cmpstr(cfg->state_dir, ==, "/var/lib/x");
	g_assert_cmpuint(cfg->progress_interval_s, ==, 0);
	g_assert_cmpuint(cfg->monitor_timeout_s, ==, 3600);

	g_assert_cmpstr(p->name, ==, "all things");
	g_assert_cmpstr(p->file, ==, path);
	g_assert_cmpint(p->line, ==, 12);
	g_assert_cmpuint(g_strv_length(p->match), ==, 2);
	g_assert_cmpstr(p->match[0], ==, "db-*");
	g_assert_cmpstr(p->match[1], ==, "web-?");
	g_assert_cmpstr(p->format, ==, "kdump-zstd");
	g_assert_cmpint(p->dump_level, ==, 31);
	g_assert_cmpstr(p->output_dir, ==, "/srv/dumps");
	g_assert_cmpstr(p->file_name, ==, "{uuid}-{{x}}.core");
	g_assert_cmpint(p->post_action, ==, HV_POST_RESET);
	g_assert_cmpuint(p->keep, ==, 100000);
	g_assert_cmpuint(p->max_bytes, ==, 10ull << 30);
	g_assert_cmpuint(p->min_free, ==, 512ull << 20);
	g_assert_cmpint(p->on_low_space, ==, HV_LOW_SPACE_SKIP);
	g_assert_cmpuint(p->max_dumps_per_hour, ==, 1000000);
	g_assert_cmpuint(g_strv_length(p->hook), ==, 4);
	g_assert_cmpstr(p->hook[0], ==, "/usr/bin/logger");
	g_assert_cmpstr(p->hook[2], ==, "hv dump");
	g_assert_cmpstr(p->hook[3], ==, "a b");
	g_assert_cmpuint(p->hook_timeout_s, ==, 3600);
	/* no "*" among the globs: the built-in one comes last */
	g_assert_cmpuint(cfg->policies->len, ==, 2);
	assert_builtin_default(policy(cfg, 1));
}

static void test_empty_values(void)
{
	g_autoptr(HvConfig) cfg = load_ok("[daemon]\nsocket-dir=\nlibvirt-uri=\nsockets=\n"
					  "[policy p]\nhook=\n", NULL);

	g_assert_null(cfg->socket_dir);
	g_assert_null(cfg->libvirt_uri);
	g_assert_nonnull(cfg->sockets);
	g_assert_null(cfg->sockets[0]);
	g_assert_null(policy(cfg, 0)->hook);
}

static void test_first_match_wins(void)
{
	g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(HvConfig) cfg = load_ok("[policy db]\nmatch=db-*\npost-action=keep-paused\n"
					  "[policy one]\nmatch=db-1;web-1\npost-action=resume\n"
					  "[policy web]\nmatch=web-*;api-?\npost-action=reset\n"
					  "[policy rest]\nmatch=*\npost-action=poweroff\n",
					  warnings);

	g_assert_cmpuint(cfg->policies->len, ==, 4);
	g_assert_cmpstr(policy(cfg, 0)->name, ==, "db");
	g_assert_cmpstr(policy(cfg, 3)->name, ==, "rest");
	g_assert_cmpstr(hv_config_policy_for(cfg, "db-1")->name, ==, "db");
	g_assert_cmpstr(hv_config_policy_for(cfg, "web-1")->name, ==, "one");
	g_assert_cmpstr(hv_config_policy_for(cfg, "web-2")->name, ==, "web");
	g_assert_cmpstr(hv_config_policy_for(cfg, "api-7")->name, ==, "web");
	g_assert_cmpstr(hv_config_policy_for(cfg, "api-77")->name, ==, "rest");
	g_assert_cmpstr(hv_config_policy_for(cfg, "")->name, ==, "rest");
	g_assert_cmpuint(warnings->len, ==, 0);
}

static void test_builtin_default_appended(void)
{
	g_autoptr(HvConfig) some = load_ok("[policy db]\nmatch=db-*\n", NULL);
	g_autoptr(HvConfig) star = load_ok("[policy db]\nmatch=db-*\n[policy all]\nmatch=x;*\n",
					   NULL);
	g_autoptr(HvConfig) almost = load_ok("[policy db]\nmatch=**\n", NULL);

	g_assert_cmpuint(some->policies->len, ==, 2);
	assert_builtin_default(policy(some, 1));
	g_assert_cmpstr(hv_config_policy_for(some, "web-1")->name, ==, "builtin-default");
	g_assert_cmpstr(hv_config_policy_for(some, "db-1")->name, ==, "db");
	/* a policy with a glob that is exactly "*": nothing added */
	g_assert_cmpuint(star->policies->len, ==, 2);
	g_assert_cmpstr(hv_config_policy_for(star, "web-1")->name, ==, "all");
	/* "**" matches everything too, but only "*" counts */
	g_assert_cmpuint(almost->policies->len, ==, 2);
	g_assert_cmpstr(policy(almost, 1)->name, ==, "builtin-default");
}

static void test_unreachable_policy_warned(void)
{
	g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(HvConfig) cfg = load_ok("[policy all]\n[policy late]\nmatch=x\n", warnings);
	g_autofree char *path = g_build_filename(tmp, "c.conf", NULL);
	g_autofree char *want = g_strdup_printf("%s:2: policy 'late' is never chosen", path);

	g_assert_cmpuint(cfg->policies->len, ==, 2);
	g_assert_cmpuint(warnings->len, ==, 1);
	g_assert_true(g_str_has_prefix(warnings->pdata[0], want));
}

static void test_policy_files(void)
{
	g_autofree char *a = write_file("etc/pol/a.conf", "# a\n[policy a1]\nmatch=a1\n\n"
					"[policy a2]\nmatch=a2\nkeep=7\n");
	g_autofree char *b = write_file("elsewhere/b.conf", "[policy b1]\nmatch=b1\n");
	g_autofree char *text = g_strdup_printf("[policy inline]\nmatch=inline\n"
						"[daemon]\npolicy-files=pol/a.conf;%s\n", b);
	g_autofree char *conf = write_file("etc/hvdumpd.conf", text);
	g_autoptr(GError) error = NULL;
	g_autoptr(HvConfig) cfg = hv_config_load(conf, NULL, &error);
	const char *order[] = { "inline", "a1", "a2", "b1", "builtin-default" };
	guint i;

	g_assert_no_error(error);
	g_assert_cmpuint(cfg->policies->len, ==, G_N_ELEMENTS(order));
	for (i = 0; i < G_N_ELEMENTS(order); i++)
		g_assert_cmpstr(policy(cfg, i)->name, ==, order[i]);
	g_assert_cmpstr(policy(cfg, 0)->file, ==, conf);
	g_assert_cmpint(policy(cfg, 0)->line, ==, 1);
	g_assert_cmpstr(policy(cfg, 1)->file, ==, a);
	g_assert_cmpint(policy(cfg, 1)->line, ==, 2);
	g_assert_cmpstr(policy(cfg, 2)->file, ==, a);
	g_assert_cmpint(policy(cfg, 2)->line, ==, 5);
	g_assert_cmpuint(policy(cfg, 2)->keep, ==, 7);
	g_assert_cmpstr(policy(cfg, 3)->file, ==, b);
	g_assert_cmpstr(hv_config_policy_for(cfg, "a2")->name, ==, "a2");
}

static void test_policy_file_errors(void)
{
	g_autofree char *dup = write_file("p/dup.conf", "\n[policy inline]\n");
	g_autofree char *daemon = write_file("p/daemon.conf", "[daemon]\nworkers=3\n");
	g_autofree char *bad = write_file("p/bad.conf", "[policy x]\nkeep=2\nkeep 3\n");
	g_autofree char *c1 = write_file("p/c1.conf", "[policy inline]\n\n[daemon]\n"
					 "policy-files=missing.conf\n");
	g_autofree char *c2 = write_file("p/c2.conf", "[policy inline]\n[daemon]\n"
					 "policy-files=dup.conf\n");
	g_autofree char *c3 = write_file("p/c3.conf", "[daemon]\npolicy-files=daemon.conf\n");
	g_autofree char *c4 = write_file("p/c4.conf", "[daemon]\npolicy-files=bad.conf\n");
	g_autofree char *c5 = write_file("p/c5.conf", "[daemon]\npolicy-files=.\n");
	g_autofree char *w1 = g_strconcat(c1, ":4", NULL);
	g_autofree char *w2 = g_strconcat(dup, ":2", NULL);
	g_autofree char *w2b = g_strconcat(c2, ":1", NULL);
	g_autofree char *w3 = g_strconcat(daemon, ":1", NULL);
	g_autofree char *w4 = g_strconcat(bad, ":3", NULL);
	g_autofree char *w5 = g_strconcat(c5, ":2", NULL);

	assert_fails(c1, w1, "missing.conf: No such file or directory");
	/* both places named */
	assert_fails(c2, w2, w2b);
	assert_fails(c3, w3, "[daemon] belongs in hvdumpd.conf");
	assert_fails(c4, w4, "keep 3");
	assert_fails(c5, w5, "is a directory");
}

typedef struct {
	const char *text;
	int line;
	const char *what;
} BadCase;

static void test_shipping_keys(void)
{
	g_autoptr(HvConfig) cfg = load_ok(
		"[daemon]\nhost-name=kvm-17.example\nmetrics-file=/var/lib/prom/hvdump.prom\n\n"
		"[policy s3]\nmatch=a*\ntarget=s3://bucket/prefix\ncredentials=/etc/c\nendpoint=https://s\n"
		"region=eu-1\nca-file=/etc/ca\naddressing=virtual-host\nkeep_local=until-uploaded\n"
		"upload_rate=20M\n\n"
		"[policy sftp]\nmatch=b*\ntarget=sftp://u@h:2222/srv\nknown-hosts=/etc/kh\nkeep-local=no\n"
		"upload-rate=512K\n\n"
		"[policy dir]\nmatch=*\ntarget=/srv/dumps\n", NULL);
	const HvPolicy *a = policy(cfg, 0), *b = policy(cfg, 1), *c = policy(cfg, 2);

	g_assert_cmpstr(cfg->host_name, ==, "kvm-17.example");
	g_assert_cmpstr(cfg->metrics_file, ==, "/var/lib/prom/hvdump.prom");
	g_assert_cmpstr(a->target, ==, "s3://bucket/prefix");
	g_assert_cmpstr(a->credentials, ==, "/etc/c");
	g_assert_cmpstr(a->endpoint, ==, "https://s");
	g_assert_cmpstr(a->region, ==, "eu-1");
	g_assert_cmpstr(a->ca_file, ==, "/etc/ca");
	g_assert_true(a->virtual_host);
	g_assert_cmpint(a->keep_local, ==, HV_KEEP_LOCAL_UNTIL_UPLOADED);
	g_assert_cmpuint(a->upload_rate, ==, 20 << 20);
	g_assert_cmpstr(b->target, ==, "sftp://u@h:2222/srv");
	g_assert_cmpstr(b->known_hosts, ==, "/etc/kh");
	g_assert_cmpint(b->keep_local, ==, HV_KEEP_LOCAL_NO);
	g_assert_cmpuint(b->upload_rate, ==, 512 << 10);
	g_assert_false(b->virtual_host);
	/* a directory target is output-dir */
	g_assert_null(c->target);
	g_assert_cmpstr(c->output_dir, ==, "/srv/dumps");
	g_assert_cmpint(c->keep_local, ==, HV_KEEP_LOCAL_YES);
	g_assert_cmpstr(hv_keep_local_name(HV_KEEP_LOCAL_UNTIL_UPLOADED), ==, "until-uploaded");
}

static void test_errors_name_file_and_line(void)
{
	static const BadCase cases[] = {
		/* syntax */
		{ "[daemon]\nworkers=2\nthis is not a key\n", 3, "not a [group] header" },
		{ "[daemon]\n\n# fine\n[broken\n", 4, "malformed group header '[broken'" },
		{ "\n\nworkers=2\n", 3, "before any [group]" },
		{ "[daemon]\nk [x=1\n", 2, "Invalid key name" },
		{ "[daemon]\r\nworkers=2\r\n[]\r\n", 3, "malformed group header" },
		/* values */
		{ "[daemon]\nworkers=2\n\n[policy a]\npost-action=explode\n", 5,
		  "post-action must be resume, reset, poweroff or keep-paused, not 'explode'" },
		{ "[policy a]\non-low-space=maybe\n", 2, "on-low-space must be degrade or skip" },
		/* shipping */
		{ "[policy a]\ntarget=ftp://h/x\n", 2, "target must be an absolute directory, s3://" },
		{ "[policy a]\ntarget=dumps\n", 2, "target must be an absolute directory" },
		{ "[policy a]\noutput-dir=/a\ntarget=/b\n", 3, "target= names a directory other than output-dir=" },
		{ "[policy a]\ntarget=s3://b/p\nkeep_local=sometimes\n", 3,
		  "keep_local must be yes, until-uploaded or no, not 'sometimes'" },
		{ "[policy a]\nkeep-local=no\n", 2, "keep_local=no needs a remote target=" },
		{ "[policy a]\ntarget=s3://b\nupload_rate=fast\n", 3, "upload_rate must be a size" },
		{ "[policy a]\ntarget=s3://b\naddressing=dns\n", 3, "addressing must be path or virtual-host" },
		{ "[daemon]\nhost-name=a b\n", 2, "host-name must be 1 to 64 of" },
		{ "[daemon]\nmetrics-file=x.prom\n", 2, "metrics-file must be an absolute path" },
		{ "[daemon]\nworkers=12abc\n", 2,
		  "workers must be a whole number from 1 to 64, not '12abc'" },
		{ "[daemon]\nworkers=-1\n", 2, "workers must be a whole number from 1 to 64" },
		{ "[daemon]\nworkers=+3\n", 2, "workers must be" },
		{ "[daemon]\nworkers=0x10\n", 2, "workers must be" },
		{ "[daemon]\nworkers=\n", 2, "workers must be" },
		{ "[daemon]\nworkers=65\n", 2, "from 1 to 64, not '65'" },
		{ "[daemon]\nworkers=0\n", 2, "from 1 to 64, not '0'" },
		{ "[daemon]\nprogress-interval=3601\n", 2,
		  "progress-interval must be a whole number from 0 to 3600" },
		{ "[daemon]\nmonitor-timeout=0\n", 2,
		  "monitor-timeout must be a whole number from 1" },
		{ "[policy a]\nkeep=100001\n", 2, "keep must be a whole number from 0 to 100000" },
		{ "[policy a]\nkeep=99999999999999999999999\n", 2, "keep must be" },
		{ "[policy a]\nmax-dumps-per-hour=1000001\n", 2, "from 0 to 1000000" },
		{ "[policy a]\nhook-timeout=0\n", 2,
		  "hook-timeout must be a whole number from 1 to 3600" },
		{ "[policy a]\ndump-level=32\n", 2,
		  "dump-level must be a whole number from 0 to 31" },
		{ "[policy a]\nmax-bytes=10X\n", 2, "max-bytes must be a size" },
		{ "[policy a]\nmin-free=-1\n", 2, "min-free must be a size" },
		{ "[policy a]\nmin-free=G\n", 2, "min-free must be a size" },
		{ "[policy a]\nmin-free=1.5G\n", 2, "min-free must be a size" },
		{ "[policy a]\nmax-bytes=16777216T\n", 2, "max-bytes must be a size" },
		{ "[daemon]\nworkers=2\nworkers=x\n", 3, "workers must be" },
		{ "[daemon]\ncontrol-socket=run/c.sock\n", 2,
		  "control-socket must be an absolute path" },
		{ "[daemon]\nstate-dir=\n", 2, "state-dir must be an absolute path, not ''" },
		{ "[daemon]\nlibvirt-uri=a\\qb\n", 2,
		  "libvirt-uri: the value has an invalid \\ escape" },
		{ "[policy a]\nformat=\xff\n", 2, "format: the value is not UTF-8" },
		/* groups */
		{ "[daemon]\n[deamon]\n", 2,
		  "unknown group [deamon] (expected [daemon] or [policy NAME])" },
		{ "[policyx]\n", 1, "unknown group [policyx]" },
		{ "[policy]\n", 1, "[policy] needs a NAME" },
		{ "[policy  ]\n", 1, "[policy] needs a NAME" },
		{ "[policy builtin-default]\n", 1, "reserved" },
		{ "[daemon]\n[daemon]\n", 2, "a second [daemon] (the first is at line 1)" },
		{ "[policy a]\nkeep=1\n[policy b]\n[policy  a]\npost-action=explode\n", 4,
		  "policy 'a' is defined twice: here and at " },
		/* policies */
		{ "[policy a]\nformat=kdump\n", 2,
		  "format 'kdump' not supported (supported: elf, kdump-zlib, kdump-zstd, kdump-lzo, "
		  "kdump-snappy)" },
		{ "[policy a]\nformat=ELF\n", 2, "format 'ELF' not supported (supported: elf, " },
		{ "[policy a]\nfile-name={nmae}.vmcore\n", 2,
		  "file-name has an unknown placeholder '{nmae}'" },
		{ "[policy a]\nfile-name={name\n", 2, "file-name has a '{' without its '}'" },
		{ "[policy a]\nfile-name={name}}x\n", 2, "file-name has a '}' without its '{'" },
		{ "[policy a]\nfile-name=x}\n", 2, "file-name has a '}' without its '{'" },
		{ "[policy a]\nfile-name={{name}\n", 2, "file-name has a '}' without its '{'" },
		{ "[policy a]\nfile-name=a/{name}\n", 2, "file-name must not contain '/'" },
		{ "[policy a]\nfile-name=\n", 2, "file-name is empty" },
		{ "[policy a]\nfile-name=..\n", 2, "file-name must not be '..'" },
		{ "[policy a]\nfile-name={name}{name}{uuid}{time}\n", 2,
		  "file-name can expand to 208 bytes" },
		{ "[policy a]\noutput-dir=dumps\n", 2,
		  "output-dir must be an absolute path, not 'dumps'" },
		{ "[policy a]\nhook=notify.sh --now\n", 2,
		  "hook must start with an absolute path, not 'notify.sh'" },
		{ "[policy a]\nhook=/bin/x 'open\n", 2, "hook: " },
		/* a \n escape in the value: the message is still one line */
		{ "[policy a]\nhook=/bin/x\\n'open\n", 2, "hook: " },
		{ "[policy a]\nmatch=;\n", 2, "match needs at least one glob" },
	};
	g_autofree char *path = g_build_filename(tmp, "bad.conf", NULL);
	guint i;

	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *where = g_strdup_printf("%s:%d", path, cases[i].line);

		g_assert_true(g_file_set_contents(path, cases[i].text, -1, NULL));
		assert_fails(path, where, cases[i].what);
	}
}

static void test_missing_config(void)
{
	g_autofree char *path = g_build_filename(tmp, "none.conf", NULL);

	assert_fails(path, path, "cannot read: No such file or directory");
}

static void test_unknown_key_warned(void)
{
	g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(HvConfig) cfg = load_ok("[daemon]\nworkers=3\nfrobnicate=1\n\n[policy p]\n"
					  "kepp=2\nmatch[de]=x\nworkers=4\n", warnings);
	g_autofree char *path = g_build_filename(tmp, "c.conf", NULL);
	g_autofree char *w0 = g_strdup_printf("%s:3: unknown key 'frobnicate' in [daemon] "
					      "(ignored)", path);
	g_autofree char *w1 = g_strdup_printf("%s:6: unknown key 'kepp' in [policy p] (ignored)",
					      path);
	g_autofree char *w2 = g_strdup_printf("%s:7: unknown key 'match[de]' in [policy p] "
					      "(ignored)", path);
	g_autofree char *w3 = g_strdup_printf("%s:8: unknown key 'workers' in [policy p] "
					      "(ignored)", path);
	g_autoptr(HvConfig) quiet = load_ok("[daemon]\nfrobnicate=1\n", NULL);

	g_assert_cmpuint(cfg->workers, ==, 3);
	g_assert_cmpuint(policy(cfg, 0)->keep, ==, 0);
	g_assert_cmpuint(warnings->len, ==, 4);
	g_assert_cmpstr(warnings->pdata[0], ==, w0);
	g_assert_cmpstr(warnings->pdata[1], ==, w1);
	g_assert_cmpstr(warnings->pdata[2], ==, w2);
	g_assert_cmpstr(warnings->pdata[3], ==, w3);
	g_assert_nonnull(quiet); /* warnings may be NULL */
}

static void test_size_suffixes(void)
{
	static const struct {
		const char *text;
		guint64 bytes;
	} sizes[] = {
		{ "0", 0 }, { "512", 512 }, { "1K", 1024 }, { "2k", 2048 }, { "3M", 3ull << 20 },
		{ "2G", 2ull << 30 }, { "1T", 1ull << 40 }, { "4KiB", 4096 },
		{ "5MiB", 5ull << 20 },
		{ "6GiB", 6ull << 30 }, { "7TiB", 7ull << 40 }, { "007", 7 },
		{ "16777215T", 16777215ull << 40 }, { "18446744073709551615", G_MAXUINT64 },
	};
	guint i;

	for (i = 0; i < G_N_ELEMENTS(sizes); i++) {
		g_autofree char *text = g_strdup_printf("[policy p]\nmax-bytes=%s\nmin-free=%s\n",
							sizes[i].text, sizes[i].text);
		g_autoptr(HvConfig) cfg = load_ok(text, NULL);

		g_assert_cmpuint(policy(cfg, 0)->max_bytes, ==, sizes[i].bytes);
		g_assert_cmpuint(policy(cfg, 0)->min_free, ==, sizes[i].bytes);
	}
}

static void test_post_action_names(void)
{
	HvPostAction a;
	int i;

	for (i = HV_POST_RESUME; i <= HV_POST_KEEP_PAUSED; i++) {
		g_assert_true(hv_post_action_parse(hv_post_action_name((HvPostAction)i), &a));
		g_assert_cmpint(a, ==, i);
	}
	g_assert_cmpstr(hv_post_action_name(HV_POST_KEEP_PAUSED), ==, "keep-paused");
	g_assert_false(hv_post_action_parse("Reset", &a));
	g_assert_false(hv_post_action_parse("", &a));
	g_assert_false(hv_post_action_parse(NULL, &a));
}

static char *name_for(const char *template, const char *vm, const char *uuid, const char *event)
{
	g_autoptr(GDateTime) when = g_date_time_new_utc(2026, 11, 23, 22, 1, 27);
	HvPolicy p = { .file_name = (char *)template };

	return hv_policy_file_name(&p, vm, uuid, when, event);
}

static void test_file_name_template(void)
{
	g_autoptr(GTimeZone) tz = g_time_zone_new_offset(2 * 3600);
	g_autoptr(GDateTime) local = g_date_time_new(tz, 2026, 11, 24, 0, 1, 27);
	HvPolicy p = { .file_name = HV_CONFIG_DEFAULT_FILE_NAME };
	g_autofree char *n1 = name_for(HV_CONFIG_DEFAULT_FILE_NAME, "vm1", NULL, "panic");
	g_autofree char *n2 = name_for("{uuid}_{event}.elf", "vm1", NULL, "on-demand");
	g_autofree char *n3 = name_for("{uuid}", "vm1", "0b9c3f3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
				       "oops");
	g_autofree char *n4 = name_for("{{{name}}}-}}{{.x", "vm", NULL, "panic");
	g_autofree char *n5 = hv_policy_file_name(&p, "vm1", NULL, local, "panic");
	g_autofree char *n6 = name_for("dump", "vm", NULL, "panic");

	g_assert_cmpstr(n1, ==, "vm1-20261123T220127Z-panic.vmcore");
	g_assert_cmpstr(n2, ==, "unknown_on-demand.elf");
	g_assert_cmpstr(n3, ==, "0b9c3f3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b");
	g_assert_cmpstr(n4, ==, "{vm}-}{.x");
	/* {time} is UTC whatever the zone of when */
	g_assert_cmpstr(n5, ==, "vm1-20261123T220127Z-panic.vmcore");
	g_assert_cmpstr(n6, ==, "dump");
}

static void test_file_name_sanitised(void)
{
	static const struct {
		const char *vm;
		const char *name;
	} cases[] = {
		{ "../x", ".._x.vmcore" },
		{ "a/b", "a_b.vmcore" },
		{ "/", "_.vmcore" },
		{ ".", "_.vmcore" },
		{ "..", "__.vmcore" },
		{ "...", "....vmcore" },
		{ "", "unknown.vmcore" },
		{ NULL, "unknown.vmcore" },
		{ "a b\tc\n", "a_b_c_.vmcore" },
		{ "Web_01.prod+x-y", "Web_01.prod+x-y.vmcore" },
		{ "v\xc3\xa9m-\xe2\x82\xac", "v_m-_.vmcore" },    /* one '_' per character */
		{ "\xff\xfe", "__.vmcore" },                       /* not UTF-8: per byte */
		{ "$(reboot);`x`", "__reboot___x_.vmcore" },
	};
	g_autofree char *long_name = g_strnfill(100, 'a');
	g_autofree char *long_want = g_strconcat("x", long_name + 36, ".vmcore", NULL);
	g_autofree char *long_got = NULL;
	g_autofree char *uni = NULL;
	GString *u = g_string_new(NULL);
	guint i;

	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *n = name_for("{name}.vmcore", cases[i].vm, NULL, "panic");

		g_assert_cmpstr(n, ==, cases[i].name);
	}
	/* at most 64 bytes per value, the template's end kept */
	long_got = name_for("x{name}.vmcore", long_name, NULL, "panic");
	g_assert_cmpstr(long_got, ==, long_want);
	g_assert_cmpuint(strlen(long_got), ==, 1 + 64 + 7);
	/* 100 two-byte characters: 64 '_' */
	for (i = 0; i < 100; i++)
		g_string_append(u, "\xc3\xa9");
	uni = name_for("{name}-{event}", u->str, NULL, "../../etc/passwd");
	g_string_free(u, TRUE);
	g_assert_cmpuint(strlen(uni), ==, 64 + 1 + 16);
	g_assert_true(g_str_has_suffix(uni, "-.._.._etc_passwd"));
	g_assert_null(strchr(uni, '/'));
}

static void test_shipped_files_load(void)
{
	static const char *const files[] = { "default.conf", "ci.conf", "production.conf" };
	g_autofree char *dir = g_build_filename(HV_TOP_SRCDIR, "policies", NULL);
	g_autofree char *main_path = g_build_filename(dir, "hvdumpd.conf", NULL);
	g_autofree char *main_text = NULL;
	guint i;

	for (i = 0; i < G_N_ELEMENTS(files); i++) {
		g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
		g_autofree char *pf = g_build_filename(dir, files[i], NULL);
		g_autofree char *text = g_strdup_printf("[daemon]\npolicy-files=%s\n", pf);
		g_autoptr(HvConfig) cfg = load_ok(text, warnings);
		const HvPolicy *last = policy(cfg, cfg->policies->len - 1);

		g_assert_cmpuint(warnings->len, ==, 0);
		g_assert_cmpstr(last->file, ==, pf);
		g_assert_true(g_strv_contains((const char *const *)last->match, "*"));
	}
	/* hvdumpd.conf itself, its policy-files= pointed at the source tree */
	g_assert_true(g_file_get_contents(main_path, &main_text, NULL, NULL));
	{
		g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
		g_autofree char *pf = g_build_filename(dir, "default.conf", NULL);
		g_auto(GStrv) parts = g_strsplit(main_text, "/etc/hvdump/policies/default.conf",
						 -1);
		g_autofree char *text = g_strjoinv(pf, parts);
		g_autoptr(HvConfig) cfg = NULL;

		g_assert_cmpuint(g_strv_length(parts), >=, 2);
		cfg = load_ok(text, warnings);
		g_assert_cmpuint(warnings->len, ==, 0);
		g_assert_cmpstr(cfg->socket_dir, ==, "/run/hvdump/qmp");
		g_assert_cmpstr(policy(cfg, 0)->file, ==, pf);
		g_assert_cmpuint(policy(cfg, 0)->keep, ==, 5);
		g_assert_cmpuint(policy(cfg, 0)->min_free, ==, 2ull << 30);
		g_assert_cmpuint(policy(cfg, 0)->max_dumps_per_hour, ==, 3);
	}
}

int main(int argc, char **argv)
{
	int rc;

	g_test_init(&argc, &argv, NULL);
	tmp = g_dir_make_tmp("hvdump-config-XXXXXX", NULL);
	g_assert_nonnull(tmp);
	g_test_add_func("/config/defaults-from-empty-file", test_defaults_from_empty_file);
	g_test_add_func("/config/every-key-parsed", test_every_key_parsed);
	g_test_add_func("/config/empty-values", test_empty_values);
	g_test_add_func("/config/first-match-wins", test_first_match_wins);
	g_test_add_func("/config/builtin-default-appended", test_builtin_default_appended);
	g_test_add_func("/config/unreachable-policy-warned", test_unreachable_policy_warned);
	g_test_add_func("/config/policy-files", test_policy_files);
	g_test_add_func("/config/policy-file-errors", test_policy_file_errors);
	g_test_add_func("/config/errors-name-file-and-line", test_errors_name_file_and_line);
	g_test_add_func("/config/shipping-keys", test_shipping_keys);
	g_test_add_func("/config/missing-config", test_missing_config);
	g_test_add_func("/config/unknown-key-warned", test_unknown_key_warned);
	g_test_add_func("/config/size-suffixes", test_size_suffixes);
	g_test_add_func("/config/post-action-names", test_post_action_names);
	g_test_add_func("/config/file-name-template", test_file_name_template);
	g_test_add_func("/config/file-name-sanitised", test_file_name_sanitised);
	g_test_add_func("/config/shipped-files-load", test_shipped_files_load);
	rc = g_test_run();
	rm_rf(tmp);
	g_free(tmp);
	return rc;
}
