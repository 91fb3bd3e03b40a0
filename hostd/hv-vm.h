/* hv-vm.h — one QEMU VM as the host sees it: the monitor and what it tells.
 *
 * Owns: the monitor connection (a QMP socket today; libvirt's monitor
 * passthrough later), the run state (status, pause, resume, quit), QEMU's
 * pid (from SO_PEERCRED, or set by whoever knows better: under libvirt the
 * socket's peer is libvirtd), and the machine state a capture needs — the
 * vCPUs' registers and the guest's RAM as a guest-RAM source: the RAM map
 * from `info mtree -f`, the backend files found in /proc/PID/fd (type-checked
 * on an O_PATH handle before they are opened) and proven to be this guest's
 * RAM by comparing bytes with QEMU's own `xp`.
 *
 * Later stages get a HvMachineState, never the monitor.
 */
#pragma once

#include <gio/gio.h>
#include <sys/types.h>

#include "hv-machine.h"
#include "hv-qmp.h"
#include "hv-ramsrc.h"

G_BEGIN_DECLS

typedef struct HvVm HvVm;

/* A monitor other than a QMP socket of our own (libvirt's passthrough):
 * QMP commands in, "return" members out, and QEMU's own dump. */
typedef struct {
	/* args may be NULL and is consumed; returns a new reference */
	json_object *(*execute)(gpointer mon, const char *command, json_object *args,
				int timeout_ms, GError **error);
	/* QEMU's dump-guest-memory (ELF, no paging) into out's NAME.part,
	 * finished when this returns; optional */
	gboolean (*dump_guest_memory)(gpointer mon, int fd, const char *path, GError **error);
	void (*set_cancellable)(gpointer mon, GCancellable *cancellable); /* optional */
	void (*free)(gpointer mon);
} HvMonitorOps;

/* Takes ownership of qmp; timeout_ms bounds every monitor call. */
HvVm *hv_vm_new(HvQmp *qmp, int timeout_ms);
/* Takes ownership of mon (freed with ops->free). */
HvVm *hv_vm_new_monitor(const HvMonitorOps *ops, gpointer mon, pid_t pid, int timeout_ms);
HvVm *hv_vm_connect(const char *qmp_path, int timeout_ms, GCancellable *cancellable,
		    GError **error);
void hv_vm_free(HvVm *vm);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HvVm, hv_vm_free)

/* For an event loop: the monitor's events (NULL when the monitor is not a
 * QMP socket of ours). */
HvQmp *hv_vm_get_qmp(HvVm *vm);
pid_t hv_vm_get_pid(HvVm *vm);
void hv_vm_set_pid(HvVm *vm, pid_t pid);
/* Bounds every later monitor call. */
void hv_vm_set_timeout(HvVm *vm, int timeout_ms);
/* Monitor waits end with G_IO_ERROR_CANCELLED once cancelled (NULL: never). */
void hv_vm_set_cancellable(HvVm *vm, GCancellable *cancellable);

/* Any QMP command (args consumed); the "return" member, a new reference. */
json_object *hv_vm_execute(HvVm *vm, const char *command, json_object *args, GError **error);

gboolean hv_vm_query_status(HvVm *vm, char **status_ret, gboolean *running_ret, GError **error);
/* Pauses a running VM; *was_running_ret (set before "stop" is sent) says
 * whether it ran, and so whether the caller must resume it. */
gboolean hv_vm_pause(HvVm *vm, gboolean *was_running_ret, char **status_ret, GError **error);
gboolean hv_vm_resume(HvVm *vm, GError **error);
gboolean hv_vm_quit(HvVm *vm, GError **error);
/* system_reset, then cont: the guest boots again (also from guest-panicked). */
gboolean hv_vm_reset(HvVm *vm, GError **error);

/* The slow way, for a guest whose RAM hvdump cannot read (not shared):
 * QEMU's own dump-guest-memory (ELF, paging off) writes into fd, an open
 * file at path (QEMU gets the descriptor, not the path, when the monitor is
 * a QMP socket). Returns when the dump is complete; waits at most
 * timeout_s. */
gboolean hv_vm_dump_guest_memory(HvVm *vm, int fd, const char *path, int timeout_s,
				 GError **error);

/* What a capture works on. */
typedef struct {
	GArray *cpus;        /* HvVcpuRegs, by CPU index */
	HvRamSource *ram;
} HvMachineState;
void hv_machine_state_clear(HvMachineState *st);

/* Reads the registers and opens the RAM of a stopped VM. */
gboolean hv_vm_read_state(HvVm *vm, HvMachineState *st, GError **error);

G_END_DECLS
