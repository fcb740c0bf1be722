//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * quell's node programs: process exec and exit, and outbound TCP connects.
 * Each program writes one record to the events ring buffer; when the ring
 * buffer is full the record is counted in lost and dropped, never waited
 * for. Record layouts are mirrored by events.go.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define EVENT_EXEC 1
#define EVENT_EXIT 2
#define EVENT_CONNECT 3

#define COMM_LEN 16
#define CGROUP_NAME_LEN 128
#define FILENAME_LEN 256
#define ARGS_LEN 2048
/* cwd components, leaf first, each NUL-terminated; see read_cwd. */
#define CWD_LEN 512
#define CWD_COMPONENT_LEN 128
#define CWD_DEPTH 24

#define PIDTYPE_SID 3
#define TCP_SYN_SENT 2
#define IPPROTO_TCP 6
#define AF_INET 2
#define AF_INET6 10

#define FLAG_ARGS_TRUNCATED 1
#define FLAG_CWD_TRUNCATED 2

/* bpf_ringbuf_* flags and queries (linux/bpf.h). */
#define RB_NO_WAKEUP 1
#define RB_FORCE_WAKEUP 2
#define RB_AVAIL_DATA 0

/*
 * Wake the reader for a record when the last wakeup is older than
 * WAKEUP_INTERVAL_NS or WAKEUP_BYTES are waiting; otherwise not. A lone
 * event is delivered at once, while under load one wakeup covers many
 * records (the reader polls on a short timer while records flow).
 */
#define WAKEUP_INTERVAL_NS (10 * 1000 * 1000)
#define WAKEUP_BYTES (256 << 10)

struct header {
	__u64 ktime;
	__u64 cgroup_id;
	__u32 type;
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__u32 loginuid;
	__u32 sid;
	__u32 tty;
	__u32 vpid;
	char comm[COMM_LEN];
};

struct cgroup_names {
	char leaf[CGROUP_NAME_LEN];
	char parent[CGROUP_NAME_LEN];
};

struct exec_event {
	struct header h;
	struct cgroup_names cg;
	__u32 flags;
	__u32 args_len;
	__u32 cwd_len;
	__u32 pad;
	char filename[FILENAME_LEN];
	char cwd[CWD_LEN + CWD_COMPONENT_LEN];
	char args[ARGS_LEN];
};

struct exit_event {
	struct header h;
};

struct connect_event {
	struct header h;
	struct cgroup_names cg;
	__u16 family;
	__u16 dport;
	__u16 sport;
	__u16 protocol;
	__u8 daddr[16];
	__u8 saddr[16];
};

/* Force the types into BTF so bpf2go generates Go mirrors of them. */
const struct exec_event *unused_exec __attribute__((unused));
const struct exit_event *unused_exit __attribute__((unused));
const struct connect_event *unused_connect __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_event);
} exec_scratch SEC(".maps");

/* lost[0] counts records dropped because the ring buffer was full. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

static __always_inline void count_lost(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&lost, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
}

/* When the reader was last woken (racy across CPUs, which is harmless). */
__u64 last_wakeup_ns = 0;

static __always_inline __u64 wakeup_flag(void)
{
	__u64 now = bpf_ktime_get_ns();
	if (now - last_wakeup_ns >= WAKEUP_INTERVAL_NS ||
	    bpf_ringbuf_query(&events, RB_AVAIL_DATA) >= WAKEUP_BYTES) {
		last_wakeup_ns = now;
		return RB_FORCE_WAKEUP;
	}
	return RB_NO_WAKEUP;
}

static __always_inline __u32 tty_dev(struct task_struct *task)
{
	struct tty_struct *tty = BPF_CORE_READ(task, signal, tty);
	if (!tty)
		return 0;
	__u32 major = BPF_CORE_READ(tty, driver, major);
	__u32 minor = BPF_CORE_READ(tty, driver, minor_start) + BPF_CORE_READ(tty, index);
	return (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12);
}

static __always_inline __u32 namespace_pid(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	if (!pid)
		return 0;
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid up = {};
	__u64 off = bpf_core_field_offset(struct pid, numbers) + (__u64)(level & 31) * bpf_core_type_size(struct upid);
	bpf_probe_read_kernel(&up, sizeof(up), (char *)pid + off);
	return up.nr;
}

static __always_inline void fill_header(struct header *h, struct task_struct *task, __u32 type)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();

	h->ktime = bpf_ktime_get_ns();
	h->cgroup_id = bpf_get_current_cgroup_id();
	h->type = type;
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->uid = (__u32)uid_gid;
	h->gid = uid_gid >> 32;
	h->ppid = BPF_CORE_READ(task, real_parent, tgid);
	h->loginuid = BPF_CORE_READ(task, loginuid.val);
	h->sid = BPF_CORE_READ(task, signal, pids[PIDTYPE_SID], numbers[0].nr);
	h->tty = tty_dev(task);
	h->vpid = namespace_pid(task);
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

static __always_inline void fill_cgroup(struct cgroup_names *cg, struct task_struct *task)
{
	struct kernfs_node *kn = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn);
	struct kernfs_node *parent;

	cg->leaf[0] = 0;
	cg->parent[0] = 0;
	if (!kn)
		return;
	bpf_probe_read_kernel_str(cg->leaf, sizeof(cg->leaf), BPF_CORE_READ(kn, name));
	if (bpf_core_field_exists(kn->__parent)) {
		parent = BPF_CORE_READ(kn, __parent);
	} else {
		struct kernfs_node___old *old = (void *)kn;
		parent = BPF_CORE_READ(old, parent);
	}
	if (parent)
		bpf_probe_read_kernel_str(cg->parent, sizeof(cg->parent), BPF_CORE_READ(parent, name));
}

struct cwd_walk {
	struct exec_event *e;
	struct dentry *d, *root;
	struct vfsmount *vfs, *root_vfs;
	struct mount *mnt;
	__u32 off;
	__u32 done;
};

/*
 * cwd_step is one step of the walk from the working directory up to the
 * task's root, crossing mount points (what the kernel's d_path does). It
 * writes each name, leaf first and NUL-terminated; user space reverses
 * them. It returns 1 to stop.
 */
static long cwd_step(__u32 i, void *ctx)
{
	struct cwd_walk *w = ctx;
	/* Locals, not w->...: inside BPF_CORE_READ every access is relocated. */
	struct dentry *d = w->d;
	struct mount *mnt = w->mnt;
	struct exec_event *e = w->e;
	__u32 off = w->off;

	if (d == w->root && w->vfs == w->root_vfs) {
		w->done = 1;
		return 1;
	}
	struct dentry *mnt_root = BPF_CORE_READ(mnt, mnt.mnt_root);
	struct dentry *parent = BPF_CORE_READ(d, d_parent);
	if (d == mnt_root || d == parent) {
		struct mount *up = BPF_CORE_READ(mnt, mnt_parent);
		if (d != mnt_root || up == mnt) {
			w->done = 1; /* the top of the mount tree */
			return 1;
		}
		w->d = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = up;
		w->vfs = (void *)((char *)up + bpf_core_field_offset(struct mount, mnt));
		return 0;
	}
	long n = bpf_probe_read_kernel_str(&e->cwd[off & (CWD_LEN - 1)], CWD_COMPONENT_LEN,
					   BPF_CORE_READ(d, d_name.name));
	if (n <= 0)
		return 1;
	off += n;
	w->off = off;
	if (off >= CWD_LEN)
		return 1;
	w->d = parent;
	return 0;
}

/* read_cwd fills e->cwd and returns its length; needs bpf_loop (5.17). */
static __always_inline __u32 read_cwd(struct exec_event *e, struct task_struct *task)
{
	struct fs_struct *fs = BPF_CORE_READ(task, fs);
	if (!fs) {
		e->flags |= FLAG_CWD_TRUNCATED;
		return 0;
	}
	struct cwd_walk w = {
		.e = e,
		.d = BPF_CORE_READ(fs, pwd.dentry),
		.vfs = BPF_CORE_READ(fs, pwd.mnt),
		.root = BPF_CORE_READ(fs, root.dentry),
		.root_vfs = BPF_CORE_READ(fs, root.mnt),
	};
	w.mnt = (void *)((char *)w.vfs - bpf_core_field_offset(struct mount, mnt));
	bpf_loop(CWD_DEPTH, cwd_step, &w, 0);
	if (!w.done)
		e->flags |= FLAG_CWD_TRUNCATED;
	return w.off > CWD_LEN ? CWD_LEN : w.off;
}

static __always_inline int do_exec(struct linux_binprm *bprm, bool with_cwd)
{
	__u32 zero = 0;
	struct exec_event *e = bpf_map_lookup_elem(&exec_scratch, &zero);
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (!e)
		return 0;

	fill_header(&e->h, task, EVENT_EXEC);
	fill_cgroup(&e->cg, task);
	e->flags = 0;
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), BPF_CORE_READ(bprm, filename));
	if (with_cwd) {
		e->cwd_len = read_cwd(e, task);
	} else {
		e->cwd_len = 0;
		e->flags |= FLAG_CWD_TRUNCATED;
	}

	unsigned long start = BPF_CORE_READ(task, mm, arg_start);
	unsigned long end = BPF_CORE_READ(task, mm, arg_end);
	__u64 len = end - start;
	if (end <= start)
		len = 0;
	if (len > ARGS_LEN) {
		len = ARGS_LEN;
		e->flags |= FLAG_ARGS_TRUNCATED;
	}
	/* The mask is a no-op after the clamp; it gives the verifier a bound. */
	len &= (ARGS_LEN * 2 - 1);
	if (len > ARGS_LEN)
		len = ARGS_LEN;
	if (len > 0 && bpf_probe_read_user(e->args, len, (void *)start) < 0)
		len = 0;
	e->args_len = len;

	__u64 size = __builtin_offsetof(struct exec_event, args) + len;
	if (size > sizeof(*e))
		size = sizeof(*e);
	if (bpf_ringbuf_output(&events, e, size, wakeup_flag()) < 0)
		count_lost();
	return 0;
}

/* handle_exec_cwd also reports the working directory (kernel 5.17+). */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec_cwd, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return do_exec(bprm, 1);
}

/* handle_exec is the fallback where bpf_loop is missing. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return do_exec(bprm, 0);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *p)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if ((__u32)pid_tgid != (__u32)(pid_tgid >> 32))
		return 0; /* a thread, not the process */

	struct exit_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	/* User space only needs to know which process ended. */
	__builtin_memset(&e->h, 0, sizeof(e->h));
	e->h.ktime = bpf_ktime_get_ns();
	e->h.type = EVENT_EXIT;
	e->h.pid = pid_tgid >> 32;
	e->h.tid = (__u32)pid_tgid;
	bpf_ringbuf_submit(e, wakeup_flag());
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(handle_connect, const struct sock *sk, const int oldstate, const int newstate)
{
	if (newstate != TCP_SYN_SENT)
		return 0;
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;

	struct connect_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	fill_header(&e->h, task, EVENT_CONNECT);
	fill_cgroup(&e->cg, task);
	e->family = family;
	e->protocol = IPPROTO_TCP;
	e->dport = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	e->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	__builtin_memset(e->daddr, 0, sizeof(e->daddr));
	__builtin_memset(e->saddr, 0, sizeof(e->saddr));
	if (family == AF_INET) {
		bpf_core_read(e->daddr, 4, &sk->__sk_common.skc_daddr);
		bpf_core_read(e->saddr, 4, &sk->__sk_common.skc_rcv_saddr);
	} else {
		bpf_core_read(e->daddr, 16, &sk->__sk_common.skc_v6_daddr);
		bpf_core_read(e->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
	}
	bpf_ringbuf_submit(e, wakeup_flag());
	return 0;
}
