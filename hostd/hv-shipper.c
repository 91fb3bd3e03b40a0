/* hv-shipper.c — see hv-shipper.h. */
#include "hv-shipper.h"

#include "hv-qmp.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
	char *path;
	gint64 next_try;  /* epoch seconds; 0: now */
	guint failures;   /* in a row, this run */
} Retry;

typedef struct {
	char *path, *id, *vm, *target, *state, *last_error;
	gint64 enqueued, next_try, attempts;
	guint64 size;
} Item;

struct HvShipper {
	char *dir;
	GMainContext *ctx;
	HvShipperFn fn;
	gpointer user;
	GThread *thread;
	GMutex lock;
	GCond cond;
	gboolean stop, kicked, busy, rearm;
	gint cancel;         /* atomic: hv_shipper_free ends the step under way */
	GHashTable *retry;   /* path → Retry (thread only) */
	GPtrArray *items;    /* Item*: the last scan, for status (under lock) */
	guint done;          /* journals done at the last scan */
};

static void item_free(gpointer p)
{
	Item *it = p;

	g_free(it->path);
	g_free(it->id);
	g_free(it->vm);
	g_free(it->target);
	g_free(it->state);
	g_free(it->last_error);
	g_free(it);
}

static void retry_free(gpointer p)
{
	Retry *r = p;

	g_free(r->path);
	g_free(r);
}

static void event_free(HvShipperEvent *ev)
{
	g_free(ev->id);
	g_free(ev->vm);
	g_free(ev->target);
	g_free(ev->state);
	g_free(ev->error);
	g_free(ev);
}

typedef struct {
	HvShipper *sh;
	HvShipperEvent *ev;
} Post;

static gboolean deliver(gpointer data)
{
	Post *p = data;

	p->sh->fn(p->ev, p->sh->user);
	event_free(p->ev);
	g_free(p);
	return G_SOURCE_REMOVE;
}

static const char *jstr(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v) : NULL;
}

static gint64 jint(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_int)
		       ? json_object_get_int64(v) : 0;
}

static gint cmp_item(gconstpointer a, gconstpointer b)
{
	const Item *x = *(Item *const *)a, *y = *(Item *const *)b;

	if (x->enqueued != y->enqueued)
		return x->enqueued < y->enqueued ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* The journals of the directory that are not done, oldest first. */
static GPtrArray *scan(HvShipper *sh, gboolean rearm, guint *done_ret)
{
	g_autoptr(GDir) d = g_dir_open(sh->dir, 0, NULL);
	GPtrArray *items = g_ptr_array_new_with_free_func(item_free);
	const char *name;
	guint seen = 0, done = 0;

	while (d != NULL && (name = g_dir_read_name(d)) != NULL && seen < HV_SHIPPER_MAX_JOURNALS) {
		g_autofree char *path = NULL;
		json_object *j, *m, *t;
		Item *it;
		Retry *r;

		if (!g_str_has_suffix(name, HV_UPLOAD_JOURNAL_SUFFIX))
			continue;
		seen++;
		path = g_build_filename(sh->dir, name, NULL);
		j = hv_upload_read_journal(path, NULL);
		if (j == NULL)
			continue;
		if (rearm && g_strcmp0(jstr(j, "state"), "failed") == 0 && hv_upload_rearm(path, NULL)) {
			json_object_put(j);
			j = hv_upload_read_journal(path, NULL);
			if (j == NULL)
				continue;
		}
		if (g_strcmp0(jstr(j, "state"), "done") == 0) {
			/* the record of a finished upload: kept a while for status */
			if (jint(j, "finished") > 0 &&
			    g_get_real_time() / G_USEC_PER_SEC - jint(j, "finished") > HV_SHIPPER_KEEP_DONE_S) {
				g_autofree char *lock = g_strconcat(path, HV_UPLOAD_LOCK_SUFFIX, NULL);

				unlink(path);
				unlink(lock);
			}
			else
				done++;
			json_object_put(j);
			continue;
		}
		it = g_new0(Item, 1);
		it->path = g_steal_pointer(&path);
		it->id = g_strdup(jstr(j, "id"));
		it->state = g_strdup(jstr(j, "state"));
		it->last_error = g_strdup(jstr(j, "last_error"));
		it->enqueued = jint(j, "enqueued");
		it->attempts = jint(j, "attempts");
		it->size = (guint64)MAX(jint(j, "size"), 0);
		if (json_object_object_get_ex(j, "manifest", &m))
			it->vm = g_strdup(jstr(m, "vm_name"));
		if (json_object_object_get_ex(j, "target", &t))
			it->target = g_strdup(jstr(t, "url"));
		r = g_hash_table_lookup(sh->retry, it->path);
		it->next_try = r != NULL ? r->next_try : 0;
		g_ptr_array_add(items, it);
		json_object_put(j);
	}
	g_ptr_array_sort(items, cmp_item);
	*done_ret = done;
	return items;
}

static void publish(HvShipper *sh, GPtrArray *items, guint done)
{
	g_mutex_lock(&sh->lock);
	g_ptr_array_unref(sh->items);
	sh->items = items;
	sh->done = done;
	g_mutex_unlock(&sh->lock);
}

static void run_one(HvShipper *sh, const Item *it)
{
	g_autoptr(GError) e = NULL;
	gint64 t0 = g_get_monotonic_time(), now;
	HvUploadResult res = hv_upload_step(it->path, 0, &sh->cancel, &e);
	HvShipperEvent *ev = g_new0(HvShipperEvent, 1);
	json_object *j = hv_upload_read_journal(it->path, NULL);
	Retry *r = g_hash_table_lookup(sh->retry, it->path);

	now = g_get_real_time() / G_USEC_PER_SEC;
	if ((res == HV_UPLOAD_DONE || res == HV_UPLOAD_FAILED) &&
	    g_strcmp0(j != NULL ? jstr(j, "state") : NULL, res == HV_UPLOAD_DONE ? "done" : "failed") != 0) {
		/* the step ended but its journal could not record it (EROFS, ENOSPC):
		 * try again later rather than at once, in a loop */
		g_autofree char *was = e != NULL ? g_strdup(e->message) : NULL;

		g_clear_error(&e);
		g_set_error(&e, G_FILE_ERROR, G_FILE_ERROR_IO, "%s%sits journal %s could not record the outcome",
			    was ? was : "", was ? "; " : "", it->path);
		res = HV_UPLOAD_RETRY;
	}
	ev->id = g_strdup(it->id);
	ev->vm = hv_printable_dup(it->vm);
	ev->target = g_strdup(it->target);
	ev->state = g_strdup(j != NULL ? jstr(j, "state") : it->state);
	ev->result = res;
	ev->error = e != NULL ? hv_printable_dup(e->message) : NULL;
	ev->bytes = it->size;
	ev->seconds = (g_get_monotonic_time() - t0) / 1e6;
	if (res == HV_UPLOAD_RETRY) {
		guint shift;

		if (r == NULL) {
			r = g_new0(Retry, 1);
			r->path = g_strdup(it->path);
			g_hash_table_insert(sh->retry, r->path, r);
		}
		shift = MIN(r->failures, 10u);
		r->failures++;
		r->next_try = now + MIN((gint64)HV_SHIPPER_BACKOFF_MIN << shift, (gint64)HV_SHIPPER_BACKOFF_MAX);
		ev->next_try = r->next_try;
	} else {
		g_hash_table_remove(sh->retry, it->path);
	}
	if (j != NULL)
		json_object_put(j);
	g_mutex_lock(&sh->lock);
	if (!sh->stop) {
		Post *p = g_new0(Post, 1);

		p->sh = sh;
		p->ev = ev;
		ev = NULL;
		g_main_context_invoke(sh->ctx, deliver, p);
	}
	g_mutex_unlock(&sh->lock);
	if (ev != NULL)
		event_free(ev);
}

static void shipper_destroy(HvShipper *sh)
{
	g_hash_table_unref(sh->retry);
	g_ptr_array_unref(sh->items);
	g_mutex_clear(&sh->lock);
	g_cond_clear(&sh->cond);
	g_free(sh->dir);
	g_free(sh);
}

static gpointer shipper_thread(gpointer data)
{
	HvShipper *sh = data;

	for (;;) {
		guint done = 0, i;
		gboolean rearm;
		GPtrArray *items;

		g_mutex_lock(&sh->lock);
		rearm = sh->rearm;
		sh->rearm = FALSE;
		g_mutex_unlock(&sh->lock);
		if (rearm)
			g_hash_table_remove_all(sh->retry);
		items = scan(sh, rearm, &done);
		gint64 now = g_get_real_time() / G_USEC_PER_SEC, wake = now + 60;
		const Item *next = NULL;

		for (i = 0; i < items->len; i++) {
			const Item *it = items->pdata[i];

			if (strcmp(it->state, "failed") == 0)
				continue;
			if (it->next_try <= now) {
				next = it;
				break;
			}
			wake = MIN(wake, it->next_try);
		}
		publish(sh, g_ptr_array_ref(items), done);
		g_mutex_lock(&sh->lock);
		if (sh->stop) {
			g_mutex_unlock(&sh->lock);
			g_ptr_array_unref(items);
			break;
		}
		if (next == NULL && !sh->kicked) {
			g_cond_wait_until(&sh->cond, &sh->lock, g_get_monotonic_time() +
					  (wake - now) * G_TIME_SPAN_SECOND);
			sh->kicked = FALSE;
			g_mutex_unlock(&sh->lock);
			g_ptr_array_unref(items);
			continue;
		}
		sh->kicked = FALSE;
		sh->busy = next != NULL;
		g_mutex_unlock(&sh->lock);
		if (next != NULL)
			run_one(sh, next);
		g_mutex_lock(&sh->lock);
		sh->busy = FALSE;
		g_mutex_unlock(&sh->lock);
		g_ptr_array_unref(items);
	}
	return NULL;
}

HvShipper *hv_shipper_new(const char *dir, GMainContext *ctx, HvShipperFn fn, gpointer user,
			  GError **error)
{
	HvShipper *sh;

	if (g_mkdir_with_parents(dir, 0700) != 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", dir,
			    g_strerror(errno));
		return NULL;
	}
	sh = g_new0(HvShipper, 1);
	sh->dir = g_strdup(dir);
	sh->ctx = ctx;
	sh->fn = fn;
	sh->user = user;
	sh->retry = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, retry_free);
	sh->items = g_ptr_array_new_with_free_func(item_free);
	g_mutex_init(&sh->lock);
	g_cond_init(&sh->cond);
	sh->thread = g_thread_new("hvdump-ship", shipper_thread, sh);
	return sh;
}

void hv_shipper_kick(HvShipper *sh)
{
	g_mutex_lock(&sh->lock);
	sh->kicked = TRUE;
	g_cond_signal(&sh->cond);
	g_mutex_unlock(&sh->lock);
}

void hv_shipper_rearm(HvShipper *sh)
{
	g_mutex_lock(&sh->lock);
	sh->rearm = TRUE;
	sh->kicked = TRUE;
	g_cond_signal(&sh->cond);
	g_mutex_unlock(&sh->lock);
}

json_object *hv_shipper_status(HvShipper *sh)
{
	json_object *o = json_object_new_object(), *arr = json_object_new_array();
	guint pending = 0, failed = 0, i;
	guint64 bytes = 0;

	g_mutex_lock(&sh->lock);
	for (i = 0; i < sh->items->len; i++) {
		const Item *it = sh->items->pdata[i];
		json_object *u;
		gboolean f = strcmp(it->state, "failed") == 0;

		failed += f;
		pending += !f;
		bytes += f ? 0 : it->size;
		if (i >= 100)
			continue;
		u = json_object_new_object();
		json_object_object_add(u, "id", json_object_new_string(it->id));
		json_object_object_add(u, "vm", json_object_new_string(it->vm ? it->vm : ""));
		json_object_object_add(u, "target", json_object_new_string(it->target ? it->target : ""));
		json_object_object_add(u, "state", json_object_new_string(it->state));
		json_object_object_add(u, "attempts", json_object_new_int64(it->attempts));
		json_object_object_add(u, "size", json_object_new_uint64(it->size));
		if (it->last_error != NULL)
			json_object_object_add(u, "last_error", json_object_new_string(it->last_error));
		if (it->next_try > 0 && !f)
			json_object_object_add(u, "next_try", json_object_new_int64(it->next_try));
		json_object_array_add(arr, u);
	}
	json_object_object_add(o, "dir", json_object_new_string(sh->dir));
	json_object_object_add(o, "pending", json_object_new_int64(pending));
	json_object_object_add(o, "failed", json_object_new_int64(failed));
	json_object_object_add(o, "done", json_object_new_int64(sh->done));
	json_object_object_add(o, "bytes_pending", json_object_new_uint64(bytes));
	json_object_object_add(o, "uploading", json_object_new_boolean(sh->busy));
	g_mutex_unlock(&sh->lock);
	json_object_object_add(o, "uploads", arr);
	return o;
}

void hv_shipper_counts(HvShipper *sh, guint *pending, guint *failed)
{
	guint i;

	*pending = *failed = 0;
	g_mutex_lock(&sh->lock);
	for (i = 0; i < sh->items->len; i++) {
		const Item *it = sh->items->pdata[i];

		if (strcmp(it->state, "failed") == 0)
			(*failed)++;
		else
			(*pending)++;
	}
	g_mutex_unlock(&sh->lock);
}

void hv_shipper_free(HvShipper *sh)
{
	gboolean busy;

	if (sh == NULL)
		return;
	g_mutex_lock(&sh->lock);
	sh->stop = TRUE;
	busy = sh->busy;
	g_cond_signal(&sh->cond);
	g_mutex_unlock(&sh->lock);
	/* the upload under way stops within about a second (an sftp connect
	 * within its timeout); its journal resumes it at the next start */
	g_atomic_int_set(&sh->cancel, 1);
	if (busy)
		g_message("stopping the upload under way; it resumes at the next start");
	g_thread_join(sh->thread);
	shipper_destroy(sh);
}
