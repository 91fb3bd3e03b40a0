/* hv-libvirt.h — libvirt domains as hvdump VMs.
 *
 * Owns: the libvirt connection (errors become one-line GErrors, libvirt
 * itself prints nothing), finding a domain the way virsh does (id, UUID,
 * name), the HvVm backend whose monitor is libvirt's QMP passthrough
 * (virDomainQemuMonitorCommand; run-state commands go through libvirt's own
 * API so its view of the domain stays right), QEMU's pid (libvirt's pid
 * file, checked against /proc), the "can hvdump dump it" verdict read from
 * the domain XML, the domain list, and lifecycle events delivered on a
 * GMainContext.
 *
 * Nothing here knows the capture: hv-vm.c reads the machine state through
 * the monitor this file provides.
 */
#pragma once

#include <gio/gio.h>

#include "hv-vm.h"

G_BEGIN_DECLS

typedef struct HvLibvirt HvLibvirt;

/* Connects to uri (NULL: libvirt's default URI: LIBVIRT_DEFAULT_URI,
 * uri_default in libvirt.conf, else the driver libvirt probes). Registers
 * libvirt's default event loop implementation first (once per process,
 * needed by hv_libvirt_watch) and a libvirt error handler that prints
 * nothing. */
HvLibvirt *hv_libvirt_open(const char *uri, GError **error);
void hv_libvirt_free(HvLibvirt *lv);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HvLibvirt, hv_libvirt_free)

/* The connection's canonical URI, e.g. "qemu:///system". */
const char *hv_libvirt_get_uri(HvLibvirt *lv);

/* A running domain as an HvVm. domain is looked up as virsh does: an id
 * when it is all digits, then a UUID when it parses as one, then a name.
 * Every monitor call is bounded by timeout_ms (< 0: no bound) and by the
 * VM's cancellable; a call that runs out is abandoned, not interrupted
 * (libvirt has no way to), and fails with HV_QMP_ERROR_TIMEOUT.
 *
 * Monitor commands map so that libvirt keeps track of the domain: "stop" →
 * virDomainSuspend, "cont" → virDomainResume (works from crashed, i.e.
 * guest-panicked, too), "system_reset" → virDomainReset, "quit" →
 * virDomainDestroy; every other command is passed through to QEMU as QMP
 * (libvirt marks the domain tainted "custom-monitor" on the first one).
 * QEMU's dump-guest-memory is virDomainCoreDumpWithFormat (ELF, memory
 * only) into the file given: libvirtd truncates and writes it, reopening
 * it as /proc/OUR-PID/fd/FD (so a path swapped meanwhile cannot redirect
 * libvirtd's write; libvirtd must run on this host, as QEMU must).
 * QEMU's pid comes from libvirt's pid file (qemu:///system:
 * /run/libvirt/qemu/NAME.pid; qemu:///session: under $XDG_RUNTIME_DIR),
 * accepted only when /proc/PID is a QEMU whose -name and -uuid are this
 * domain's. The VM stays usable after hv_libvirt_free(lv). */
HvVm *hv_libvirt_vm_new(HvLibvirt *lv, const char *domain, int timeout_ms, GError **error);

/* ---- what a domain is and whether hvdump can dump it -------------------- */

typedef enum {
	HV_LIBVIRT_DUMP_YES,      /* running, RAM shared: hvdump reads it directly */
	HV_LIBVIRT_DUMP_FALLBACK, /* running, RAM not shared: QEMU's own dump-guest-memory */
	HV_LIBVIRT_DUMP_NO,       /* not running, or not a QEMU domain */
} HvLibvirtDump;

/* "yes", "fallback", "no" */
const char *hv_libvirt_dump_name(HvLibvirtDump dump);

typedef struct {
	char *name;
	char *uuid;          /* canonical string form */
	int id;              /* -1 when not running */
	gboolean active;
	int state;           /* virDomainState */
	int reason;          /* its virDomain*Reason */
	/* as `virsh domstate --reason` says it: "running (booted)",
	 * "crashed (panicked)", "shut off (destroyed)" */
	char *state_text;
	HvLibvirtDump dump;
	/* One line per thing missing from the domain XML: what it costs and the
	 * XML to add (also for a "yes" domain, e.g. no <panic> device); and
	 * "not running" for an inactive one. */
	GPtrArray *reasons;
} HvLibvirtDomainInfo;

void hv_libvirt_domain_info_clear(HvLibvirtDomainInfo *info);
void hv_libvirt_domain_info_free(HvLibvirtDomainInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HvLibvirtDomainInfo, hv_libvirt_domain_info_free)

/* Fills *info_ret (clear it after) for domain (id, UUID or name). The
 * verdict is read from the live XML of a running domain, else from its
 * configuration. */
gboolean hv_libvirt_domain_info(HvLibvirt *lv, const char *domain, HvLibvirtDomainInfo *info_ret,
				GError **error);

/* Every domain, running ones first (by id), then the others by name: an
 * array of HvLibvirtDomainInfo * (the array frees them). */
GPtrArray *hv_libvirt_list(HvLibvirt *lv, GError **error);

/* The verdict from domain XML alone (a running domain is assumed; parsing
 * only, for tests): *dump_ret and one line per problem appended to reasons. */
gboolean hv_libvirt_check_xml(const char *xml, HvLibvirtDump *dump_ret, GPtrArray *reasons,
			      GError **error);

/* ---- lifecycle events ----------------------------------------------------- */

typedef enum {
	HV_LIBVIRT_EVENT_STARTED,
	HV_LIBVIRT_EVENT_STOPPED,             /* shut off: QEMU is gone */
	HV_LIBVIRT_EVENT_CRASHED_PANICKED,    /* pvpanic PANICKED (on_crash=preserve: paused) */
	HV_LIBVIRT_EVENT_CRASHED_CRASHLOADED, /* pvpanic CRASH_LOADED: a kdump kernel runs */
	HV_LIBVIRT_EVENT_SUSPENDED,
	HV_LIBVIRT_EVENT_RESUMED,
	HV_LIBVIRT_EVENT_CLOSED,              /* the connection is gone (name, uuid NULL) */
} HvLibvirtEvent;

/* "started", "stopped", "crashed-panicked", ... */
const char *hv_libvirt_event_name(HvLibvirtEvent ev);

typedef void (*HvLibvirtEventFunc)(const char *name, const char *uuid, HvLibvirtEvent ev,
				   gpointer data);

/* Calls func in ctx (NULL: the global default context; never in libvirt's
 * thread) for every lifecycle event of every domain on lv, in order. A
 * process-wide thread runs libvirt's event loop while any watch exists.
 * One watch per connection. */
gboolean hv_libvirt_watch(HvLibvirt *lv, GMainContext *ctx, HvLibvirtEventFunc func,
			  gpointer data, GError **error);
/* Stops the watch (hv_libvirt_free does too). Called from the thread that
 * runs ctx, func is not called again once this returns; the event thread
 * is joined when the last watch goes. */
void hv_libvirt_unwatch(HvLibvirt *lv);

G_END_DECLS
