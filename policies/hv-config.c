/* hv-config.c — hvdumpd.conf(5) and policy files; see hv-config.h.
 *
 * Owns: reading the keyfiles (GKeyFile does the syntax, escapes and lists),
 * the index of their lines that GKeyFile does not keep (group headers and
 * key= lines, so every message names FILE:LINE), checking every value, the
 * policy list in match order with its built-in last resort, matching a VM
 * name, and expanding the dump file-name template.
 *
 * A source is one file: its GKeyFile and its line index. The daemon config
 * is read first (its [daemon] and inline policies), then each file of
 * policy-files= in order. Group names are all checked before any value, so
 * a duplicate group never has GKeyFile's merged values reported against the
 * wrong line.
 */
#include "hv-config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv-error.h"

#define FILE_MAX (1u << 20)     /* a configuration file larger than this is not one */
#define QUOTE_MAX 80            /* bytes of a value quoted in a message */
#define SAFE_MAX 64             /* bytes of one substituted file-name value */
#define NAME_MAX_EXPANDED 200   /* a file name leaves room for "-N", ".part", ".json" */
#define BUILTIN_NAME "builtin-default"

/* ---- messages ----------------------------------------------------------- */

/* s for a one-line message: printable UTF-8 kept, anything else \xHH, long
 * values cut. */
static char *quote(const char *s)
{
	GString *q = g_string_new(NULL);
	const char *p = s;

	while (*p != '\0' && q->len < QUOTE_MAX) {
		gunichar c = g_utf8_get_char_validated(p, -1);

		if (c != (gunichar)-1 && c != (gunichar)-2 && g_unichar_isprint(c)) {
			const char *next = g_utf8_next_char(p);

			g_string_append_len(q, p, next - p);
			p = next;
		} else {
			g_string_append_printf(q, "\\x%02x", (guint)(guchar)*p);
			p++;
		}
	}
	if (*p != '\0')
		g_string_append(q, "...");
	return g_string_free(q, FALSE);
}

/* Control characters (a file name's, or a \n escape GLib quotes) become ' '. */
static void one_line(char *s)
{
	for (; *s != '\0'; s++) {
		if (g_ascii_iscntrl(*s))
			*s = ' ';
	}
}

static gboolean fail_at(GError **error, const char *file, int line, const char *fmt, ...)
	G_GNUC_PRINTF(4, 5);

/* Sets "FILE:LINE: what" (or "FILE: what" without a line); returns FALSE. */
static gboolean fail_at(GError **error, const char *file, int line, const char *fmt, ...)
{
	g_autofree char *what = NULL;
	va_list ap;

	va_start(ap, fmt);
	what = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (line > 0)
		g_set_error(error, HV_ERROR, HV_ERROR_USAGE, "%s:%d: %s", file, line, what);
	else
		g_set_error(error, HV_ERROR, HV_ERROR_USAGE, "%s: %s", file, what);
	if (error != NULL && *error != NULL)
		one_line((*error)->message);
	return FALSE;
}

static void warn_at(GPtrArray *warnings, const char *file, int line, const char *fmt, ...)
	G_GNUC_PRINTF(4, 5);

static void warn_at(GPtrArray *warnings, const char *file, int line, const char *fmt, ...)
{
	g_autofree char *what = NULL;
	char *line_text;
	va_list ap;

	if (warnings == NULL)
		return;
	va_start(ap, fmt);
	what = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	line_text = g_strdup_printf("%s:%d: %s", file, line, what);
	one_line(line_text);
	g_ptr_array_add(warnings, line_text);
}

/* ---- a source: one file, its GKeyFile and its line index ---------------- */

typedef struct {
	char *key;
	int line;
} KeyLine;

typedef struct {
	char *name;              /* between [ and ], as GKeyFile has it */
	int line;
	GArray *keys;            /* KeyLine, in file order */
} Group;

typedef struct {
	char *path;
	GKeyFile *kf;
	GPtrArray *groups;       /* Group*, in file order */
} Source;

static void key_line_clear(KeyLine *k)
{
	g_free(k->key);
}

static void group_free(Group *g)
{
	g_free(g->name);
	g_array_unref(g->keys);
	g_free(g);
}

static void source_free(Source *s)
{
	g_free(s->path);
	if (s->kf != NULL)
		g_key_file_unref(s->kf);
	if (s->groups != NULL)
		g_ptr_array_unref(s->groups);
	g_free(s);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Source, source_free)

/* The line of key's value in g (the last one: later wins), or 0. */
static int key_line(const Group *g, const char *key)
{
	guint i;

	for (i = g->keys->len; i > 0; i--) {
		const KeyLine *k = &g_array_index(g->keys, KeyLine, i - 1);

		if (strcmp(k->key, key) == 0)
			return k->line;
	}
	return 0;
}

/* Reads a whole, small, regular file; on failure *why_ret says why. */
static char *read_text(const char *path, gsize *len_ret, char **why_ret)
{
	GString *buf;
	struct stat st;
	char chunk[8192];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0) {
		*why_ret = g_strdup(g_strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0)
		*why_ret = g_strdup(g_strerror(errno));
	else if (!S_ISREG(st.st_mode))
		*why_ret = g_strdup(S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
	if (*why_ret != NULL) {
		close(fd);
		return NULL;
	}
	buf = g_string_new(NULL);
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*why_ret = g_strdup(g_strerror(errno));
			break;
		}
		if (n == 0)
			break;
		g_string_append_len(buf, chunk, n);
		if (buf->len > FILE_MAX) {
			*why_ret = g_strdup_printf("larger than %u KiB", FILE_MAX >> 10);
			break;
		}
	}
	close(fd);
	if (*why_ret != NULL) {
		g_string_free(buf, TRUE);
		return NULL;
	}
	*len_ret = buf->len;
	return g_string_free(buf, FALSE);
}

/* Byte offsets just past each line (its '\n' included). */
static GArray *line_ends(const char *text, gsize len)
{
	GArray *ends = g_array_new(FALSE, FALSE, sizeof(gsize));
	gsize i;

	for (i = 0; i < len; i++) {
		if (text[i] == '\n') {
			gsize end = i + 1;

			g_array_append_val(ends, end);
		}
	}
	if (len > 0 && text[len - 1] != '\n')
		g_array_append_val(ends, len);
	return ends;
}

static gboolean prefix_loads(const char *text, gsize len)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();

	return g_key_file_load_from_data(kf, text, len, G_KEY_FILE_NONE, NULL);
}

/* GKeyFile rejected text without saying where. It parses line by line and
 * stops at the first bad one, so a prefix loads iff it ends before that
 * line: bisect on prefixes. Returns the 1-based line. */
static guint first_bad_line(const char *text, const GArray *ends)
{
	guint lo = 1, hi = ends->len;

	while (lo < hi) {
		guint mid = lo + (hi - lo) / 2;

		if (prefix_loads(text, g_array_index(ends, gsize, mid - 1)))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Does a group header start one of the first n - 1 lines? */
static gboolean group_before(const char *text, const GArray *ends, guint n)
{
	guint i;

	for (i = 0; i + 1 < n; i++) {
		const char *l = text + (i > 0 ? g_array_index(ends, gsize, i - 1) : 0);

		while (*l == ' ' || *l == '\t')
			l++;
		if (*l == '[')
			return TRUE;
	}
	return FALSE;
}

/* GKeyFile's kf_error about text, as "FILE:LINE: what" of its first bad line. */
static gboolean fail_syntax(GError **error, const char *path, const char *text,
			    const GArray *ends, const GError *kf_error)
{
	guint n = ends->len > 0 ? first_bad_line(text, ends) : 1;
	gsize start = n > 1 ? g_array_index(ends, gsize, n - 2) : 0;
	gsize end = ends->len > 0 ? g_array_index(ends, gsize, n - 1) : 0;
	g_autofree char *line = g_strchomp(g_strndup(text + start, end - start));
	g_autofree char *q = quote(g_strchug(line));

	if (*line == '[')
		return fail_at(error, path, (int)n, "malformed group header '%s' "
			       "(expected [daemon] or [policy NAME])", q);
	if (strchr(line, '=') == NULL)
		return fail_at(error, path, (int)n, "'%s' is not a [group] header, a key=value "
			       "line or a #comment", q);
	if (!group_before(text, ends, n))
		return fail_at(error, path, (int)n, "'%s' comes before any [group] header", q);
	return fail_at(error, path, (int)n, "'%s': %s", q, kf_error->message);
}

/* Group headers and key lines of a text GKeyFile accepted. */
static GPtrArray *index_lines(const char *text, const GArray *ends)
{
	GPtrArray *groups = g_ptr_array_new_with_free_func((GDestroyNotify)group_free);
	Group *cur = NULL;
	guint i;

	for (i = 0; i < ends->len; i++) {
		gsize start = i > 0 ? g_array_index(ends, gsize, i - 1) : 0;
		gsize end = g_array_index(ends, gsize, i);
		g_autofree char *line = g_strndup(text + start, end - start);
		char *p = line, *q;

		while (g_ascii_isspace(*p))
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		if (*p == '[' && (q = strchr(p, ']')) != NULL) {
			cur = g_new0(Group, 1);
			cur->name = g_strndup(p + 1, q - p - 1);
			cur->line = (int)i + 1;
			cur->keys = g_array_new(FALSE, FALSE, sizeof(KeyLine));
			g_array_set_clear_func(cur->keys, (GDestroyNotify)key_line_clear);
			g_ptr_array_add(groups, cur);
		} else if ((q = strchr(p, '=')) != NULL && cur != NULL) {
			KeyLine k;

			*q = '\0';
			k.key = g_strdup(g_strchomp(p));
			k.line = (int)i + 1;
			g_array_append_val(cur->keys, k);
		}
	}
	return groups;
}

/* A source from text read from path. Errors name path and the line. */
static Source *source_parse(const char *path, const char *text, gsize len, GError **error)
{
	g_autoptr(Source) s = g_new0(Source, 1);
	g_autoptr(GError) kf_error = NULL;
	g_autoptr(GArray) ends = line_ends(text, len);
	const char *nul = memchr(text, '\0', len);

	if (nul != NULL) {
		guint n = 1;
		const char *c;

		for (c = text; c < nul; c++)
			n += *c == '\n';
		fail_at(error, path, (int)n, "contains a NUL byte (not a text file?)");
		return NULL;
	}
	s->path = g_strdup(path);
	s->kf = g_key_file_new();
	if (!g_key_file_load_from_data(s->kf, text, len, G_KEY_FILE_NONE, &kf_error)) {
		fail_syntax(error, path, text, ends, kf_error);
		return NULL;
	}
	s->groups = index_lines(text, ends);
	return g_steal_pointer(&s);
}

/* Reads path into a source; *why_ret (not error) says why it cannot be read. */
static Source *source_load(const char *path, char **why_ret, GError **error)
{
	g_autofree char *text = NULL;
	gsize len = 0;

	*why_ret = NULL;
	text = read_text(path, &len, why_ret);
	if (text == NULL)
		return NULL;
	return source_parse(path, text, len, error);
}

/* ---- values ------------------------------------------------------------- */

/* GKeyFile could not give key's value (e: why, may be NULL). */
static gboolean fail_value(GError **error, const Source *s, int line, const char *key,
			   const GError *e)
{
	return fail_at(error, s->path, line, "%s: %s", key,
		       g_error_matches(e, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_UNKNOWN_ENCODING) ?
		       "the value is not UTF-8" : "the value has an invalid \\ escape");
}

/* The unescaped, stripped value of key in g, or NULL (no error) if absent. */
static gboolean get_string(const Source *s, const Group *g, const char *key, char **val_ret,
			   GError **error)
{
	g_autoptr(GError) e = NULL;
	int line = key_line(g, key);
	char *v;

	*val_ret = NULL;
	if (line == 0)
		return TRUE;
	/* an invalid escape sets e and still returns a string */
	v = g_key_file_get_string(s->kf, g->name, key, &e);
	if (e != NULL || v == NULL) {
		g_free(v);
		return fail_value(error, s, line, key, e);
	}
	*val_ret = g_strstrip(v);
	return TRUE;
}

/* A ';'-separated list: items stripped, empty ones dropped; absent: NULL. */
static gboolean get_list(const Source *s, const Group *g, const char *key, char ***list_ret,
			 GError **error)
{
	g_autoptr(GError) e = NULL;
	g_auto(GStrv) raw = NULL;
	GPtrArray *items;
	int line = key_line(g, key);
	guint i;

	*list_ret = NULL;
	if (line == 0)
		return TRUE;
	raw = g_key_file_get_string_list(s->kf, g->name, key, NULL, &e);
	if (e != NULL || raw == NULL)
		return fail_value(error, s, line, key, e);
	items = g_ptr_array_new();
	for (i = 0; raw[i] != NULL; i++) {
		if (*g_strstrip(raw[i]) != '\0')
			g_ptr_array_add(items, g_strdup(raw[i]));
	}
	g_ptr_array_add(items, NULL);
	*list_ret = (char **)g_ptr_array_free(items, FALSE);
	return TRUE;
}

/* Plain decimal digits, no sign, no overflow. */
static gboolean parse_decimal(const char *s, guint64 *ret)
{
	guint64 v = 0;

	if (*s == '\0')
		return FALSE;
	for (; *s != '\0'; s++) {
		guint d = (guint)(*s - '0');

		if (!g_ascii_isdigit(*s) || v > (G_MAXUINT64 - d) / 10)
			return FALSE;
		v = v * 10 + d;
	}
	*ret = v;
	return TRUE;
}

/* A whole number in min..max; absent: *ret is left as it is (the default). */
static gboolean get_uint(const Source *s, const Group *g, const char *key, guint min, guint max,
			 guint *ret, GError **error)
{
	g_autofree char *v = NULL;
	g_autofree char *q = NULL;
	guint64 n;

	if (!get_string(s, g, key, &v, error))
		return FALSE;
	if (v == NULL)
		return TRUE;
	if (parse_decimal(v, &n) && n >= min && n <= max) {
		*ret = (guint)n;
		return TRUE;
	}
	q = quote(v);
	return fail_at(error, s->path, key_line(g, key),
		       "%s must be a whole number from %u to %u, not '%s'", key, min, max, q);
}

/* Bytes: N, or N with K, M, G or T (KiB .. TiB), 1024-based. */
gboolean hv_config_parse_size(const char *v, guint64 *ret)
{
	static const char *const suffixes[][2] = {
		{ "K", "KiB" }, { "M", "MiB" }, { "G", "GiB" }, { "T", "TiB" },
	};
	g_autofree char *digits = NULL;
	const char *unit = v;
	guint64 n, mult = 1;
	guint i;

	while (g_ascii_isdigit(*unit))
		unit++;
	digits = g_strndup(v, unit - v);
	if (!parse_decimal(digits, &n))
		return FALSE;
	if (*unit != '\0') {
		for (i = 0; i < G_N_ELEMENTS(suffixes); i++) {
			if (g_ascii_strcasecmp(unit, suffixes[i][0]) == 0 ||
			    g_ascii_strcasecmp(unit, suffixes[i][1]) == 0)
				break;
		}
		if (i == G_N_ELEMENTS(suffixes))
			return FALSE;
		mult = (guint64)1 << (10 * (i + 1));
	}
	if (n > G_MAXUINT64 / mult)
		return FALSE;
	*ret = n * mult;
	return TRUE;
}

static gboolean get_size(const Source *s, const Group *g, const char *key, guint64 *ret,
			 GError **error)
{
	g_autofree char *v = NULL;
	g_autofree char *q = NULL;

	if (!get_string(s, g, key, &v, error))
		return FALSE;
	if (v == NULL || hv_config_parse_size(v, ret))
		return TRUE;
	q = quote(v);
	return fail_at(error, s->path, key_line(g, key),
		       "%s must be a size in bytes, optionally with K, M, G or T (1024-based, "
		       "as in 2G or 512MiB), not '%s'", key, q);
}

/* An absolute path replacing *ret (the default) when the key is given. */
static gboolean get_abs_path(const Source *s, const Group *g, const char *key, char **ret,
			     GError **error)
{
	g_autofree char *v = NULL;
	g_autofree char *q = NULL;

	if (!get_string(s, g, key, &v, error))
		return FALSE;
	if (v == NULL)
		return TRUE;
	if (g_path_is_absolute(v)) {
		g_free(*ret);
		*ret = g_steal_pointer(&v);
		return TRUE;
	}
	q = quote(v);
	return fail_at(error, s->path, key_line(g, key), "%s must be an absolute path, not '%s'",
		       key, q);
}

/* A string replacing *ret when the key is given; given empty: NULL. */
static gboolean get_optional(const Source *s, const Group *g, const char *key, char **ret,
			     GError **error)
{
	g_autofree char *v = NULL;

	if (!get_string(s, g, key, &v, error))
		return FALSE;
	if (v == NULL)
		return TRUE;
	g_free(*ret);
	*ret = *v != '\0' ? g_steal_pointer(&v) : NULL;
	return TRUE;
}

/* One of names (NULL-terminated); its index in *ret. */
static gboolean get_choice(const Source *s, const Group *g, const char *key,
			   const char *const *names, const char *names_text, int *ret,
			   GError **error)
{
	g_autofree char *v = NULL;
	g_autofree char *q = NULL;
	int i;

	if (!get_string(s, g, key, &v, error))
		return FALSE;
	if (v == NULL)
		return TRUE;
	for (i = 0; names[i] != NULL; i++) {
		if (strcmp(v, names[i]) == 0) {
			*ret = i;
			return TRUE;
		}
	}
	q = quote(v);
	return fail_at(error, s->path, key_line(g, key), "%s must be %s, not '%s'", key,
		       names_text, q);
}

/* Keys g does not know: a warning each, with its line. */
static void warn_unknown_keys(const Source *s, const Group *g, const char *const *known,
			      GPtrArray *warnings)
{
	guint i;

	for (i = 0; i < g->keys->len; i++) {
		const KeyLine *k = &g_array_index(g->keys, KeyLine, i);
		g_autofree char *qk = NULL;
		g_autofree char *qg = NULL;

		if (g_strv_contains(known, k->key))
			continue;
		qk = quote(k->key);
		qg = quote(g->name);
		warn_at(warnings, s->path, k->line, "unknown key '%s' in [%s] (ignored)", qk, qg);
	}
}

/* ---- the file-name template --------------------------------------------- */

typedef enum { F_NAME, F_UUID, F_TIME, F_EVENT, F_COUNT } Field;

static const char *const field_names[F_COUNT] = { "name", "uuid", "time", "event" };
/* longest expansion of each: 20261123T220127Z; "on-demand" */
static const gsize field_max[F_COUNT] = { SAFE_MAX, SAFE_MAX, 16, 9 };

/* One piece of a template: literal bytes, a placeholder, or a mistake. */
typedef struct {
	const char *text;       /* literal: the bytes to copy; else the raw piece */
	gsize len;
	int field;              /* a Field; -1 literal; -2 a mistake (why says what) */
	const char *why;
} Piece;

/* The piece at t (not at its end); returns where the next one starts. */
static const char *template_piece(const char *t, Piece *p)
{
	const char *close;
	int i;

	p->text = t;
	p->field = -1;
	p->why = NULL;
	if ((t[0] == '{' && t[1] == '{') || (t[0] == '}' && t[1] == '}')) {
		p->len = 1;
		return t + 2;
	}
	if (t[0] == '}') {
		p->len = 1;
		p->field = -2;
		p->why = "has a '}' without its '{' (write }} for a literal one)";
		return t + 1;
	}
	if (t[0] != '{') {
		p->len = strcspn(t, "{}");
		return t + p->len;
	}
	close = strchr(t + 1, '}');
	p->field = -2;
	if (close == NULL || memchr(t + 1, '{', close - t - 1) != NULL) {
		p->len = 1;
		p->why = "has a '{' without its '}' (write {{ for a literal one)";
		return t + 1;
	}
	p->len = close - t + 1;
	p->why = "has an unknown placeholder"; /* the one mistake longer than a byte */
	for (i = 0; i < F_COUNT; i++) {
		if (strlen(field_names[i]) == (gsize)(close - t - 1) &&
		    strncmp(t + 1, field_names[i], close - t - 1) == 0) {
			p->field = i;
			p->why = NULL;
		}
	}
	return close + 1;
}

/* Is t a usable template? If not, *why_ret says why. */
static gboolean template_check(const char *t, char **why_ret)
{
	GString *literal = g_string_new(NULL);
	gsize longest = 0;
	gboolean fields = FALSE;
	const char *at = t;
	Piece p;

	*why_ret = NULL;
	if (*t == '\0')
		*why_ret = g_strdup("is empty");
	while (*why_ret == NULL && *at != '\0') {
		at = template_piece(at, &p);
		if (p.field == -2 && p.len > 1) {
			g_autofree char *raw = g_strndup(p.text, p.len);
			g_autofree char *q = quote(raw);

			*why_ret = g_strdup_printf("%s '%s' (known: {name} {uuid} {time} {event})",
						   p.why, q);
		} else if (p.field == -2) {
			*why_ret = g_strdup(p.why);
		} else if (p.field >= 0) {
			longest += field_max[p.field];
			fields = TRUE;
		} else if (memchr(p.text, '/', p.len) != NULL) {
			*why_ret = g_strdup("must not contain '/' (it is a name, not a path)");
		} else {
			g_string_append_len(literal, p.text, p.len);
		}
	}
	longest += literal->len;
	if (*why_ret == NULL && !fields && (strcmp(literal->str, ".") == 0 ||
					    strcmp(literal->str, "..") == 0))
		*why_ret = g_strdup_printf("must not be '%s'", literal->str);
	if (*why_ret == NULL && longest > NAME_MAX_EXPANDED)
		*why_ret = g_strdup_printf("can expand to %" G_GSIZE_FORMAT " bytes (at most "
					   "%d; each placeholder gives up to %d)", longest,
					   NAME_MAX_EXPANDED, SAFE_MAX);
	g_string_free(literal, TRUE);
	return *why_ret == NULL;
}

/* v made file-name safe: [A-Za-z0-9._+-] kept, any other character '_',
 * at most SAFE_MAX bytes, never "." or "..". */
static void append_safe(GString *out, const char *v)
{
	gsize start = out->len;
	const char *p;

	if (v == NULL || *v == '\0')
		v = "unknown";
	for (p = v; *p != '\0' && out->len - start < SAFE_MAX;) {
		gunichar c = g_utf8_get_char_validated(p, -1);

		if (g_ascii_isalnum(*p) || strchr("._+-", *p) != NULL) {
			g_string_append_c(out, *p++);
			continue;
		}
		g_string_append_c(out, '_');
		p = (c == (gunichar)-1 || c == (gunichar)-2) ? p + 1 : g_utf8_next_char(p);
	}
	if (strcmp(out->str + start, ".") == 0 || strcmp(out->str + start, "..") == 0)
		memset(out->str + start, '_', out->len - start);
}

static gboolean check_file_name(const Source *s, const Group *g, const char *t, GError **error)
{
	g_autofree char *why = NULL;

	if (template_check(t, &why))
		return TRUE;
	return fail_at(error, s->path, key_line(g, "file-name"), "file-name %s", why);
}

char *hv_policy_file_name(const HvPolicy *p, const char *vm_name, const char *uuid,
			  GDateTime *when, const char *event)
{
	g_autoptr(GDateTime) utc = when != NULL ? g_date_time_to_utc(when) :
				   g_date_time_new_now_utc();
	g_autofree char *stamp = g_date_time_format(utc, "%Y%m%dT%H%M%SZ");
	const char *values[F_COUNT] = { vm_name, uuid, stamp, event };
	const char *at = p->file_name != NULL && *p->file_name != '\0' ? p->file_name :
			 HV_CONFIG_DEFAULT_FILE_NAME;
	GString *out = g_string_new(NULL);
	Piece piece;
	gsize i;

	while (*at != '\0') {
		at = template_piece(at, &piece);
		if (piece.field >= 0) {
			append_safe(out, values[piece.field]);
			continue;
		}
		/* literal text, and (in a template never checked) mistakes as they are */
		for (i = 0; i < piece.len; i++)
			g_string_append_c(out, piece.text[i] == '/' ? '_' : piece.text[i]);
	}
	if (strcmp(out->str, ".") == 0 || strcmp(out->str, "..") == 0)
		memset(out->str, '_', out->len);
	return g_string_free(out, FALSE);
}

/* ---- policies ----------------------------------------------------------- */

static const char *const post_action_names[] = { "resume", "reset", "poweroff", "keep-paused",
						  NULL };
static const char *const low_space_names[] = { "degrade", "skip", NULL };
static const char *const keep_local_names[] = { "yes", "until-uploaded", "no", NULL };
static const char *const addressing_names[] = { "path", "virtual-host", NULL };

static const char *const policy_keys[] = {
	"match", "format", "dump-level", "output-dir", "file-name", "post-action", "keep",
	"max-bytes", "min-free", "on-low-space", "max-dumps-per-hour", "hook", "hook-timeout",
	"target", "credentials", "endpoint", "region", "ca-file", "addressing", "known-hosts",
	"keep-local", "keep_local", "upload-rate", "upload_rate",
	NULL,
};

const char *hv_keep_local_name(HvKeepLocal k)
{
	if ((guint)k >= G_N_ELEMENTS(keep_local_names) - 1)
		return "unknown";
	return keep_local_names[k];
}

const char *hv_post_action_name(HvPostAction a)
{
	if ((guint)a >= G_N_ELEMENTS(post_action_names) - 1)
		return "unknown";
	return post_action_names[a];
}

gboolean hv_post_action_parse(const char *s, HvPostAction *a_ret)
{
	int i;

	for (i = 0; s != NULL && post_action_names[i] != NULL; i++) {
		if (strcmp(s, post_action_names[i]) == 0) {
			*a_ret = (HvPostAction)i;
			return TRUE;
		}
	}
	return FALSE;
}

static void policy_free(HvPolicy *p)
{
	g_free(p->name);
	g_strfreev(p->match);
	g_free(p->format);
	g_free(p->output_dir);
	g_free(p->file_name);
	g_strfreev(p->hook);
	g_free(p->target);
	g_free(p->credentials);
	g_free(p->endpoint);
	g_free(p->region);
	g_free(p->ca_file);
	g_free(p->known_hosts);
	g_free(p->file);
	g_free(p);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HvPolicy, policy_free)

/* A policy with every default: what the built-in one is. */
static HvPolicy *policy_new(const char *name, const char *file, int line)
{
	HvPolicy *p = g_new0(HvPolicy, 1);

	p->name = g_strdup(name);
	p->match = g_new0(char *, 2);
	p->match[0] = g_strdup("*");
	p->format = g_strdup("elf");
	p->dump_level = 0;
	p->output_dir = g_strdup(HV_CONFIG_DEFAULT_OUTPUT_DIR);
	p->file_name = g_strdup(HV_CONFIG_DEFAULT_FILE_NAME);
	p->post_action = HV_POST_KEEP_PAUSED;
	p->on_low_space = HV_LOW_SPACE_DEGRADE;
	p->hook_timeout_s = 30;
	p->file = g_strdup(file);
	p->line = line;
	return p;
}

static gboolean get_match(const Source *s, const Group *g, HvPolicy *p, GError **error)
{
	char **match = NULL;

	if (!get_list(s, g, "match", &match, error))
		return FALSE;
	if (match == NULL)
		return TRUE;
	if (match[0] == NULL) {
		g_strfreev(match);
		return fail_at(error, s->path, key_line(g, "match"),
			       "match needs at least one glob (* matches every VM)");
	}
	g_strfreev(p->match);
	p->match = match;
	return TRUE;
}

/* format= and dump-level=: every format hvdump writes, makedumpfile's
 * levels for all of them (ELF leaves excluded pages out as holes). */
static gboolean get_format(const Source *s, const Group *g, HvPolicy *p, GError **error)
{
	static const char *const formats[] = {
		"elf", "kdump-zlib", "kdump-zstd", "kdump-lzo", "kdump-snappy", NULL,
	};
	g_autofree char *format = NULL;
	guint level = (guint)p->dump_level;

	if (!get_string(s, g, "format", &format, error))
		return FALSE;
	if (format != NULL && !g_strv_contains(formats, format)) {
		g_autofree char *q = quote(format);

		return fail_at(error, s->path, key_line(g, "format"),
			       "format '%s' not supported (supported: elf, kdump-zlib, kdump-zstd, "
			       "kdump-lzo, kdump-snappy)", q);
	}
	if (format != NULL) {
		g_free(p->format);
		p->format = g_steal_pointer(&format);
	}
	if (!get_uint(s, g, "dump-level", 0, 31, &level, error))
		return FALSE;
	p->dump_level = (int)level;
	return TRUE;
}

static gboolean get_hook(const Source *s, const Group *g, HvPolicy *p, GError **error)
{
	g_autoptr(GError) e = NULL;
	g_autofree char *v = NULL;
	g_autofree char *q = NULL;
	char **argv = NULL;
	int line = key_line(g, "hook");

	if (!get_string(s, g, "hook", &v, error))
		return FALSE;
	if (v == NULL || *v == '\0')
		return TRUE;
	if (!g_shell_parse_argv(v, NULL, &argv, &e))
		return fail_at(error, s->path, line, "hook: %s", e->message);
	if (!g_path_is_absolute(argv[0])) {
		q = quote(argv[0]);
		g_strfreev(argv);
		return fail_at(error, s->path, line, "hook must start with an absolute path, "
			       "not '%s'", q);
	}
	p->hook = argv;
	return TRUE;
}

/* The key as written: the keep_local= and the house's keep-local=
 * are one key (the later line wins when both are there). */
static const char *spelled(const Group *g, const char *hyphen, const char *underscore)
{
	return key_line(g, underscore) > key_line(g, hyphen) ? underscore : hyphen;
}

/* target=: a directory (what output-dir= says) or a remote store; the
 * remote URL is checked in full (and its credentials) by hvdumpd --check
 * and before each upload, which know the stores. */
static gboolean get_target(const Source *s, const Group *g, HvPolicy *p, GError **error)
{
	g_autofree char *v = NULL;
	g_autofree char *q = NULL;
	int line = key_line(g, "target");

	if (!get_string(s, g, "target", &v, error))
		return FALSE;
	if (v == NULL || *v == '\0')
		return TRUE;
	if (g_path_is_absolute(v)) {
		if (key_line(g, "output-dir") > 0 && strcmp(v, p->output_dir) != 0)
			return fail_at(error, s->path, line, "target= names a directory other "
				       "than output-dir=; give one of them");
		g_free(p->output_dir);
		p->output_dir = g_steal_pointer(&v);
		return TRUE;
	}
	q = quote(v);
	if ((!g_str_has_prefix(v, "s3://") && !g_str_has_prefix(v, "sftp://")) ||
	    strlen(v) > 1024 || v[strcspn(v, " \t\r\n")] != '\0')
		return fail_at(error, s->path, line, "target must be an absolute directory, "
			       "s3://BUCKET[/PREFIX] or sftp://[USER@]HOST[:PORT]/PATH, not '%s'", q);
	p->target = g_steal_pointer(&v);
	return TRUE;
}

static gboolean get_shipping(const Source *s, const Group *g, HvPolicy *p, GError **error)
{
	int keep = p->keep_local, addressing = p->virtual_host;

	if (!get_target(s, g, p, error) ||
	    !get_optional(s, g, "credentials", &p->credentials, error) ||
	    !get_optional(s, g, "endpoint", &p->endpoint, error) ||
	    !get_optional(s, g, "region", &p->region, error) ||
	    !get_optional(s, g, "known-hosts", &p->known_hosts, error) ||
	    !get_optional(s, g, "ca-file", &p->ca_file, error) ||
	    !get_choice(s, g, "addressing", addressing_names, "path or virtual-host", &addressing,
			error) ||
	    !get_choice(s, g, spelled(g, "keep-local", "keep_local"), keep_local_names,
			"yes, until-uploaded or no", &keep, error) ||
	    !get_size(s, g, spelled(g, "upload-rate", "upload_rate"), &p->upload_rate, error))
		return FALSE;
	p->keep_local = (HvKeepLocal)keep;
	p->virtual_host = addressing == 1;
	if (p->target == NULL && keep != HV_KEEP_LOCAL_YES)
		return fail_at(error, s->path, key_line(g, spelled(g, "keep-local", "keep_local")),
			       "keep_local=%s needs a remote target= (s3:// or sftp://)",
			       keep_local_names[keep]);
	return TRUE;
}

static gboolean parse_policy(const Source *s, const Group *g, HvPolicy *p, GError **error)
{
	int post = p->post_action, low = p->on_low_space;

	if (!get_match(s, g, p, error) || !get_format(s, g, p, error) ||
	    !get_abs_path(s, g, "output-dir", &p->output_dir, error))
		return FALSE;
	if (!get_optional(s, g, "file-name", &p->file_name, error))
		return FALSE;
	if (key_line(g, "file-name") > 0 &&
	    !check_file_name(s, g, p->file_name != NULL ? p->file_name : "", error))
		return FALSE;
	if (!get_choice(s, g, "post-action", post_action_names,
			"resume, reset, poweroff or keep-paused", &post, error) ||
	    !get_uint(s, g, "keep", 0, 100000, &p->keep, error) ||
	    !get_size(s, g, "max-bytes", &p->max_bytes, error) ||
	    !get_size(s, g, "min-free", &p->min_free, error) ||
	    !get_choice(s, g, "on-low-space", low_space_names, "degrade or skip", &low, error) ||
	    !get_uint(s, g, "max-dumps-per-hour", 0, 1000000, &p->max_dumps_per_hour, error) ||
	    !get_hook(s, g, p, error) ||
	    !get_uint(s, g, "hook-timeout", 1, 3600, &p->hook_timeout_s, error) ||
	    !get_shipping(s, g, p, error))
		return FALSE;
	p->post_action = (HvPostAction)post;
	p->on_low_space = (HvLowSpace)low;
	return TRUE;
}

/* ---- groups ------------------------------------------------------------- */

typedef enum { GROUP_DAEMON, GROUP_POLICY } GroupKind;

/* NAME of a [policy NAME] group (maybe empty), or NULL for another group. */
static char *policy_name(const Group *g)
{
	if (!g_str_has_prefix(g->name, "policy") || (g->name[6] != '\0' && g->name[6] != ' '))
		return NULL;
	return g_strstrip(g_strdup(g->name + 6));
}

/* What g is; a policy's NAME in *name_ret. */
static gboolean group_kind(const Source *s, const Group *g, gboolean policy_file,
			   GroupKind *kind_ret, char **name_ret, GError **error)
{
	g_autofree char *q = NULL;

	*name_ret = NULL;
	if (strcmp(g->name, "daemon") == 0) {
		*kind_ret = GROUP_DAEMON;
		if (policy_file)
			return fail_at(error, s->path, g->line, "[daemon] belongs in hvdumpd.conf, "
				       "a policy file holds [policy NAME] groups only");
		return TRUE;
	}
	*name_ret = policy_name(g);
	if (*name_ret != NULL) {
		*kind_ret = GROUP_POLICY;
		if (**name_ret == '\0')
			return fail_at(error, s->path, g->line,
				       "[policy] needs a NAME: [policy NAME]");
		if (!g_utf8_validate(*name_ret, -1, NULL))
			return fail_at(error, s->path, g->line, "the policy's NAME is not UTF-8");
		if (strcmp(*name_ret, BUILTIN_NAME) == 0)
			return fail_at(error, s->path, g->line, "the policy name '%s' is "
				       "reserved for the built-in last policy", BUILTIN_NAME);
		return TRUE;
	}
	q = quote(g->name);
	return fail_at(error, s->path, g->line, "unknown group [%s] (expected %s)", q,
		       policy_file ? "[policy NAME]" : "[daemon] or [policy NAME]");
}

/* Every group of s is known and no name is taken twice (names: NAME →
 * "FILE:LINE" of the policies read so far, this file's added). */
static gboolean check_groups(const Source *s, gboolean policy_file, GHashTable *names,
			     GError **error)
{
	int daemon_line = 0;
	guint i;

	for (i = 0; i < s->groups->len; i++) {
		const Group *g = s->groups->pdata[i];
		g_autofree char *name = NULL;
		const char *where;
		GroupKind kind;

		if (!group_kind(s, g, policy_file, &kind, &name, error))
			return FALSE;
		if (kind == GROUP_DAEMON) {
			if (daemon_line > 0)
				return fail_at(error, s->path, g->line, "a second [daemon] (the "
					       "first is at line %d)", daemon_line);
			daemon_line = g->line;
			continue;
		}
		where = g_hash_table_lookup(names, name);
		if (where != NULL) {
			g_autofree char *q = quote(name);

			return fail_at(error, s->path, g->line, "policy '%s' is defined twice: "
				       "here and at %s", q, where);
		}
		g_hash_table_insert(names, g_steal_pointer(&name),
				    g_strdup_printf("%s:%d", s->path, g->line));
	}
	return TRUE;
}

/* The policies of s, in file order, appended to cfg. */
static gboolean read_policies(HvConfig *cfg, const Source *s, GPtrArray *warnings,
			      GError **error)
{
	guint i;

	for (i = 0; i < s->groups->len; i++) {
		const Group *g = s->groups->pdata[i];
		g_autofree char *name = policy_name(g);
		g_autoptr(HvPolicy) p = NULL;

		if (name == NULL)
			continue;
		p = policy_new(name, s->path, g->line);
		warn_unknown_keys(s, g, policy_keys, warnings);
		if (!parse_policy(s, g, p, error))
			return FALSE;
		g_ptr_array_add(cfg->policies, g_steal_pointer(&p));
	}
	return TRUE;
}

/* ---- the daemon's settings ---------------------------------------------- */

static const char *const daemon_keys[] = {
	"socket-dir", "sockets", "libvirt-uri", "workers", "control-socket", "state-dir",
	"progress-interval", "monitor-timeout", "policy-files", "host-name", "metrics-file", NULL,
};

/* host-name=: goes into upload ids and object keys: 1..64 bytes of
 * [A-Za-z0-9._-]. */
static gboolean get_host_name(const Source *s, const Group *g, HvConfig *cfg, GError **error)
{
	g_autofree char *v = NULL;
	g_autofree char *q = NULL;

	if (!get_string(s, g, "host-name", &v, error))
		return FALSE;
	if (v == NULL)
		return TRUE;
	if (*v != '\0' && strlen(v) <= 64 &&
	    strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == strlen(v)) {
		g_free(cfg->host_name);
		cfg->host_name = g_steal_pointer(&v);
		return TRUE;
	}
	q = quote(v);
	return fail_at(error, s->path, key_line(g, "host-name"),
		       "host-name must be 1 to 64 of A-Z a-z 0-9 . _ -, not '%s'", q);
}

static gboolean parse_daemon(HvConfig *cfg, const Source *s, const Group *g, char ***files_ret,
			     GError **error)
{
	char **sockets = NULL;

	if (!get_optional(s, g, "socket-dir", &cfg->socket_dir, error) ||
	    !get_list(s, g, "sockets", &sockets, error))
		return FALSE;
	if (sockets != NULL) {
		g_strfreev(cfg->sockets);
		cfg->sockets = sockets;
	}
	return get_optional(s, g, "libvirt-uri", &cfg->libvirt_uri, error) &&
	       get_uint(s, g, "workers", 1, 64, &cfg->workers, error) &&
	       get_abs_path(s, g, "control-socket", &cfg->control_socket, error) &&
	       get_abs_path(s, g, "state-dir", &cfg->state_dir, error) &&
	       get_uint(s, g, "progress-interval", 0, 3600, &cfg->progress_interval_s, error) &&
	       get_uint(s, g, "monitor-timeout", 1, 3600, &cfg->monitor_timeout_s, error) &&
	       get_host_name(s, g, cfg, error) &&
	       get_optional(s, g, "metrics-file", &cfg->metrics_file, error) &&
	       (cfg->metrics_file == NULL || g_path_is_absolute(cfg->metrics_file) ||
		fail_at(error, s->path, key_line(g, "metrics-file"),
			"metrics-file must be an absolute path (or empty: none)")) &&
	       get_list(s, g, "policy-files", files_ret, error);
}

/* The config file: [daemon] and inline policies; policy-files= entries
 * (resolved) and the line naming them in *files_ret, *files_line_ret. */
static gboolean read_config(HvConfig *cfg, const Source *s, GHashTable *names,
			    char ***files_ret, int *files_line_ret, GPtrArray *warnings,
			    GError **error)
{
	g_autofree char *rel = g_path_get_dirname(s->path);
	g_autofree char *dir = g_canonicalize_filename(rel, NULL);
	char **files = NULL;
	guint i;

	if (!check_groups(s, FALSE, names, error))
		return FALSE;
	for (i = 0; i < s->groups->len; i++) {
		const Group *g = s->groups->pdata[i];

		if (strcmp(g->name, "daemon") != 0)
			continue;
		warn_unknown_keys(s, g, daemon_keys, warnings);
		if (!parse_daemon(cfg, s, g, &files, error))
			return FALSE;
		*files_line_ret = key_line(g, "policy-files");
	}
	for (i = 0; files != NULL && files[i] != NULL; i++) {
		char *abs = g_canonicalize_filename(files[i], dir);

		g_free(files[i]);
		files[i] = abs;
	}
	*files_ret = files;
	return read_policies(cfg, s, warnings, error);
}

/* One file of policy-files=, named at conf:line: that line is where a file
 * that cannot be read is wrong; what is in the file is reported in it. */
static gboolean read_policy_file(HvConfig *cfg, const char *file, const char *conf, int line,
				 GHashTable *names, GPtrArray *warnings, GError **error)
{
	g_autoptr(Source) s = NULL;
	g_autofree char *why = NULL;

	s = source_load(file, &why, error);
	if (s == NULL && why != NULL)
		return fail_at(error, conf, line, "policy-files: cannot read %s: %s", file, why);
	if (s == NULL)
		return FALSE;
	return check_groups(s, TRUE, names, error) && read_policies(cfg, s, warnings, error);
}

/* Policies after the first that matches every name are never chosen. */
static void warn_unreachable(const HvConfig *cfg, GPtrArray *warnings)
{
	const HvPolicy *all = NULL;
	guint i;

	for (i = 0; i < cfg->policies->len; i++) {
		const HvPolicy *p = cfg->policies->pdata[i];

		if (all != NULL) {
			warn_at(warnings, p->file, p->line, "policy '%s' is never chosen: policy "
				"'%s' (%s:%d) before it matches every VM", p->name, all->name,
				all->file, all->line);
		} else if (g_strv_contains((const char *const *)p->match, "*")) {
			all = p;
		}
	}
}

static gboolean has_catch_all(const HvConfig *cfg)
{
	guint i;

	for (i = 0; i < cfg->policies->len; i++) {
		const HvPolicy *p = cfg->policies->pdata[i];

		if (g_strv_contains((const char *const *)p->match, "*"))
			return TRUE;
	}
	return FALSE;
}

static HvConfig *config_new(const char *path)
{
	HvConfig *cfg = g_new0(HvConfig, 1);

	cfg->path = g_strdup(path);
	cfg->sockets = g_new0(char *, 1);
	cfg->workers = 2;
	cfg->control_socket = g_strdup(HV_CONFIG_DEFAULT_CONTROL);
	cfg->state_dir = g_strdup(HV_CONFIG_DEFAULT_STATE_DIR);
	cfg->progress_interval_s = 10;
	cfg->monitor_timeout_s = 30;
	cfg->host_name = g_strdup(g_get_host_name());
	g_strcanon(cfg->host_name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-", '_');
	if (strlen(cfg->host_name) > 64)
		cfg->host_name[64] = '\0';
	cfg->policies = g_ptr_array_new_with_free_func((GDestroyNotify)policy_free);
	return cfg;
}

void hv_config_free(HvConfig *cfg)
{
	if (cfg == NULL)
		return;
	g_free(cfg->path);
	g_free(cfg->socket_dir);
	g_strfreev(cfg->sockets);
	g_free(cfg->libvirt_uri);
	g_free(cfg->control_socket);
	g_free(cfg->state_dir);
	g_free(cfg->host_name);
	g_free(cfg->metrics_file);
	g_ptr_array_unref(cfg->policies);
	g_free(cfg);
}

HvConfig *hv_config_load(const char *path, GPtrArray *warnings, GError **error)
{
	g_autoptr(HvConfig) cfg = config_new(path);
	g_autoptr(GHashTable) names = NULL;
	g_autoptr(Source) s = NULL;
	g_autofree char *why = NULL;
	g_auto(GStrv) files = NULL;
	int files_line = 0;
	guint i;

	names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	s = source_load(path, &why, error);
	if (s == NULL && why != NULL)
		fail_at(error, path, 0, "cannot read: %s", why);
	if (s == NULL || !read_config(cfg, s, names, &files, &files_line, warnings, error))
		return NULL;
	for (i = 0; files != NULL && files[i] != NULL; i++) {
		if (!read_policy_file(cfg, files[i], path, files_line, names, warnings, error))
			return NULL;
	}
	warn_unreachable(cfg, warnings);
	if (!has_catch_all(cfg))
		g_ptr_array_add(cfg->policies, policy_new(BUILTIN_NAME, NULL, 0));
	return g_steal_pointer(&cfg);
}

const HvPolicy *hv_config_policy_for(const HvConfig *cfg, const char *vm_name)
{
	guint i, j;

	if (vm_name == NULL)
		vm_name = "";
	for (i = 0; i < cfg->policies->len; i++) {
		const HvPolicy *p = cfg->policies->pdata[i];

		for (j = 0; p->match[j] != NULL; j++) {
			if (g_pattern_match_simple(p->match[j], vm_name))
				return p;
		}
	}
	/* not reached with a loaded config: its last policy matches "*" */
	return cfg->policies->pdata[cfg->policies->len - 1];
}
