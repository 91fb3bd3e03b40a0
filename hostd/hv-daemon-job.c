/* hv-daemon-job.c — one capture as hvdumpd's workers run it; see
 * hv-daemon-job.h. */
#define G_LOG_DOMAIN "hvdumpd"

#include "hv-daemon-job.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "hv-dumpdir.h"
#include "hv-error.h"
#include "hv-output.h"

#define DUMP_FALLBACK_TIMEOUT_S (6 * 3600)
#define MAX_NAME_SUFFIX 1000
/* a degraded dump needs at least this much room to be worth writing */
#define DEGRADE_MIN_BYTES (4u << 20)

const char *const hv_job_result_names[] = {
	"dumped", "dumped-fallback", "skipped-rate-limit", "skipped-low-space", "failed", "cancelled",
	"stale",
};

/* ---- the capture job (worker thread) ------------------------------------ */

void hv_job_free(HvJob *j)
{
	g_clear_object(&j->cancel);
	g_free(j->requested_path);
	g_free(j->path);
	g_free(j->error);
	g_free(j->fallback_reason);
	g_free(j->degraded);
	g_free(j->vm_name);
	g_free(j->uuid);
	hv_capture_result_clear(&j->res);
	g_free(j);
}

static void job_progress(guint64 done, guint64 total, guint64 written, gpointer data)
{
	HvJob *j = data;
	gint64 now = g_get_monotonic_time();
	double secs;

	if (j->progress_interval_s == 0 ||
	    now - j->progress_last < (gint64)j->progress_interval_s * G_USEC_PER_SEC)
		return;
	j->progress_last = now;
	secs = (double)(now - j->progress_start) / 1e6;
	g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "HVDUMP_VM", j->vm_name, "MESSAGE",
			 "%s: capturing: %" G_GUINT64_FORMAT " of at most %" G_GUINT64_FORMAT
			 " MiB scanned, %" G_GUINT64_FORMAT " MiB written, %.0f MiB/s", j->vm_name,
			 done >> 20, total >> 20, written >> 20,
			 secs > 0 ? (double)(done >> 20) / secs : 0.0);
}

/* A free DIR/NAME: NAME as the template made it, else NAME-2, NAME-3...
 * before the first '.' of the extension. */
static char *free_path(const char *dir, const char *name)
{
	const char *ext = strchr(name, '.');
	guint i;

	for (i = 1; i <= MAX_NAME_SUFFIX; i++) {
		g_autofree char *n = i == 1 ? g_strdup(name) :
				     g_strdup_printf("%.*s-%u%s", ext ? (int)(ext - name) : (int)strlen(name),
						     name, i, ext ? ext : "");
		char *path = g_build_filename(dir, n, NULL);
		g_autofree char *part = g_strconcat(path, ".part", NULL);
		struct stat st;

		if (lstat(path, &st) < 0 && lstat(part, &st) < 0)
			return path;
		g_free(path);
	}
	return NULL;
}

/* Why this dump must not be written, or NULL. */
static char *space_problem(const HvPolicy *p, guint64 need)
{
	guint64 avail = hv_dumpdir_free_bytes(p->output_dir);

	if (p->max_bytes > 0 && need > p->max_bytes)
		return g_strdup_printf("the dump needs up to %" G_GUINT64_FORMAT " MiB, more than the "
				       "directory budget (max-bytes %" G_GUINT64_FORMAT " MiB)",
				       need >> 20, p->max_bytes >> 20);
	if (avail != G_MAXUINT64 && (avail < need || avail - need < p->min_free))
		return g_strdup_printf("%" G_GUINT64_FORMAT " MiB free in %s; the dump needs up to %"
				       G_GUINT64_FORMAT " MiB and min-free is %" G_GUINT64_FORMAT " MiB",
				       avail >> 20, p->output_dir, need >> 20, p->min_free >> 20);
	return NULL;
}

/* What a degraded dump may take: free space above min-free, within max-bytes. */
static guint64 space_allowance(const HvPolicy *p)
{
	guint64 avail = hv_dumpdir_free_bytes(p->output_dir), allow = G_MAXUINT64;

	if (avail != G_MAXUINT64)
		allow = avail > p->min_free ? avail - p->min_free : 0;
	if (p->max_bytes > 0)
		allow = MIN(allow, p->max_bytes);
	return allow;
}

static gboolean job_open(HvJob *j, const char *event, HvOutput **out_ret, GError **error)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autofree char *name = NULL;

	if (j->requested_path != NULL) {
		j->path = g_strdup(j->requested_path);
	} else {
		if (g_mkdir_with_parents(j->policy->output_dir, 0700) < 0) {
			g_set_error(error, HV_ERROR, HV_ERROR_IO, "cannot create %s: %s",
				    j->policy->output_dir, g_strerror(errno));
			return FALSE;
		}
		name = hv_policy_file_name(j->policy, j->vm_name, j->uuid, now, event);
		j->path = free_path(j->policy->output_dir, name);
		if (j->path == NULL) {
			g_set_error(error, HV_ERROR, HV_ERROR_EXISTS, "no free name like %s in %s", name,
				    j->policy->output_dir);
			return FALSE;
		}
	}
	*out_ret = hv_output_open(j->path, FALSE, error);
	if (*out_ret != NULL)
		hv_output_set_cancellable(*out_ret, j->cancel);
	return *out_ret != NULL;
}

/* RAM hvdump cannot read: QEMU's own dump-guest-memory, slower. */
static gboolean job_fallback(HvJob *j, const char *why, GError **error)
{
	const HvDumpFormat *fmt = hv_dump_format_lookup(j->policy->format);
	gboolean convert = (fmt != NULL && fmt != &hv_dump_format_elf) || j->policy->dump_level > 1;
	g_autoptr(HvOutput) out = NULL, tmp = NULL;
	gint64 t0 = g_get_monotonic_time();
	struct stat st;

	j->fallback_reason = g_strdup(why);
	g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "HVDUMP_VM", j->vm_name, "MESSAGE",
			 "%s: %s; falling back to QEMU's dump-guest-memory (slower%s; the VM stays "
			 "paused throughout)", j->vm_name, why,
			 convert ? ", its ELF converted afterwards" : ", no page filtering");
	if (!job_open(j, "panic", &out, error))
		return FALSE;
	if (convert) {
		/* QEMU writes ELF next to the dump; it becomes the policy's format */
		HvCaptureOptions copt = { .cancellable = j->cancel, .format = fmt,
					  .dump_level = (guint)j->policy->dump_level };
		g_autofree char *tp = g_strconcat(j->path, ".qemu-elf", NULL);

		tmp = hv_output_open(tp, TRUE, error);
		if (tmp == NULL ||
		    !hv_vm_dump_guest_memory(j->vm, hv_output_get_fd(tmp), hv_output_get_part_path(tmp),
					     DUMP_FALLBACK_TIMEOUT_S, error) ||
		    !hv_capture_convert_file(hv_output_get_part_path(tmp), out, &copt, &j->res, error))
			return FALSE;
	} else if (!hv_vm_dump_guest_memory(j->vm, hv_output_get_fd(out), hv_output_get_part_path(out),
					    DUMP_FALLBACK_TIMEOUT_S, error) ||
		   !hv_output_commit(out, error)) {
		return FALSE;
	}
	j->seconds = (double)(g_get_monotonic_time() - t0) / 1e6;
	if (stat(j->path, &st) == 0)
		j->bytes = (guint64)st.st_blocks * 512;
	j->result = HV_JOB_FALLBACK;
	return TRUE;
}

const char *hv_job_event(const HvJob *j)
{
	return j->kind == HV_JOB_ON_DEMAND ? "on-demand" : j->oops ? "oops" : "panic";
}

/* Policy checks that come before writing: rate limit, space. */
static gboolean job_may_write(HvJob *j, HvCapture *c)
{
	const HvPolicy *p = j->policy;
	g_autofree char *why = NULL;

	if (j->kind == HV_JOB_ON_DEMAND)
		return TRUE;
	if (j->oops && j->last_dump_time != 0 &&
	    g_get_real_time() / G_USEC_PER_SEC - j->last_dump_time < HV_JOB_OOPS_MIN_INTERVAL_S) {
		/* an oops flood must not become a dump flood, limit or not */
		j->result = HV_JOB_SKIPPED_RATE;
		j->error = g_strdup_printf("the last dump of this VM was less than %d s ago",
					   HV_JOB_OOPS_MIN_INTERVAL_S);
		return FALSE;
	}
	if (p->max_dumps_per_hour > 0 && j->recent_dumps >= p->max_dumps_per_hour) {
		j->result = HV_JOB_SKIPPED_RATE;
		j->error = g_strdup_printf("%u dumps of this VM in the last hour (max-dumps-per-hour)",
					   p->max_dumps_per_hour);
		return FALSE;
	}
	why = space_problem(p, hv_capture_estimate_bytes(c));
	if (why != NULL && p->on_low_space == HV_LOW_SPACE_DEGRADE) {
		guint64 allow = space_allowance(p);

		/* the ladder's last rung: the smallest dump there is, within what
		 * space is left; should it not fit, it ends flagged incomplete
		 * rather than not at all */
		if (allow >= DEGRADE_MIN_BYTES) {
			hv_capture_set_output(c, &hv_dump_format_kdump_zstd, HV_DUMP_LEVEL_MAX);
			j->space_limit = allow;
			j->degraded = g_strdup_printf("%s: written as kdump-zstd -d 31 within %"
						      G_GUINT64_FORMAT " MiB", why, allow >> 20);
			return TRUE;
		}
		j->result = HV_JOB_SKIPPED_SPACE;
		j->error = g_strdup_printf("%s; not even %u MiB for a degraded dump", why,
					   DEGRADE_MIN_BYTES >> 20);
		return FALSE;
	}
	if (why != NULL) {
		j->result = HV_JOB_SKIPPED_SPACE;
		j->error = g_strdup_printf("%s (on-low-space=skip)", why);
		return FALSE;
	}
	return TRUE;
}

static void job_capture(HvJob *j)
{
	g_autoptr(GError) error = NULL;
	HvCaptureOptions copt = { .cancellable = j->cancel, .progress = job_progress, .progress_data = j,
				  .format = hv_dump_format_lookup(j->policy->format),
				  .dump_level = (guint)j->policy->dump_level };
	g_autoptr(HvCapture) c = NULL;
	g_autoptr(HvOutput) out = NULL;
	HvMachineState st;

	if (j->kind == HV_JOB_ON_DEMAND) {
		g_autofree char *status = NULL;

		if (!hv_vm_pause(j->vm, &j->was_running, &status, &error))
			goto failed;
	} else {
		g_autofree char *status = NULL;

		/* an event read behind a panic already handled (found at connect,
		 * dumped, resumed) must not dump a running guest */
		if (!hv_vm_query_status(j->vm, &status, NULL, &error))
			goto failed;
		if (g_strcmp0(status, "running") == 0) {
			j->result = HV_JOB_STALE;
			return;
		}
	}
	if (!hv_vm_read_state(j->vm, &st, &error)) {
		if (g_error_matches(error, HV_ERROR, HV_ERROR_NOT_SHARED) &&
		    !g_cancellable_is_cancelled(j->cancel)) {
			g_autofree char *why = g_strdup(error->message);

			g_clear_error(&error);
			if (job_fallback(j, why, &error))
				return;
		}
		goto failed;
	}
	c = hv_capture_new(st.cpus, g_steal_pointer(&st.ram), &copt, &error);
	hv_machine_state_clear(&st);
	if (c == NULL)
		goto failed;
	j->oops = j->kind == HV_JOB_PANIC && hv_descriptor_requests_resume(hv_capture_get_descriptor(c));
	if (!job_may_write(j, c))
		return;
	j->progress_start = j->progress_last = g_get_monotonic_time();
	if (!job_open(j, hv_job_event(j), &out, &error))
		goto failed;
	if (j->space_limit != 0)
		hv_output_set_limit(out, j->space_limit);
	if (!hv_capture_write(c, out, &j->res, &error) && !j->res.stats.incomplete)
		goto failed;
	j->bytes = j->res.stats.bytes_written;
	j->seconds = j->res.seconds;
	j->result = HV_JOB_DUMPED;
	return;
failed:
	j->result = g_cancellable_is_cancelled(j->cancel) ? HV_JOB_CANCELLED : HV_JOB_FAILED;
	j->error = g_strdup(error != NULL ? error->message : "cancelled");
}

void hv_job_run(gpointer data, gpointer pool_data)
{
	HvJob *j = data;

	(void)pool_data;
	job_capture(j);
	/* a VM we paused for an on-demand dump runs again at once */
	if (j->was_running) {
		g_autoptr(GError) error = NULL;

		hv_vm_set_cancellable(j->vm, NULL);
		if (!hv_vm_resume(j->vm, &error)) {
			j->resume_failed = TRUE;
			g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "HVDUMP_VM", j->vm_name,
					 "MESSAGE", "%s: resuming after the dump: %s", j->vm_name,
					 error->message);
		}
	}
	g_main_context_invoke(j->ctx, j->done, j);
}

