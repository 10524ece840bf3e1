// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * On-CPU time per cgroup v2 id, from the scheduler's context switches.
 *
 * At every switch the CPU's running slice ends: its length (the growth of the task's
 * se.sum_exec_runtime, the scheduler's own account, which cpu.stat sums) goes to the cgroup of
 * the task that ran it, and a new slice starts for the task switched in. All state is per CPU (a per-CPU
 * array for the running slice, a per-CPU LRU hash for the totals), so the hot path takes no
 * lock and uses no atomic instruction. Totals only grow; the agent reads them as cumulative
 * counters and takes differences, like cgroupfs cpu.stat.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "kubehero_bpf_maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kh_cpu_running);
} kh_running SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, KH_MAX_CGROUPS);
	__type(key, __u64);
	__type(value, __u64);
} kh_cpu_ns SEC(".maps");

SEC("tp_btf/sched_switch")
int BPF_PROG(kh_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u32 zero = 0;
	struct kh_cpu_running *run = bpf_map_lookup_elem(&kh_running, &zero);
	if (!run)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u64 cgroup_id = run->cgroup_id;
	if (run->since_ns && cgroup_id) {
		/*
		 * The slice's length as the scheduler accounts it (what cpu.stat sums): its runtime
		 * grew by this much since switch-in. Wall time would also count what the task did not
		 * run: a VM's steal time, and interrupt time with IRQ time accounting.
		 */
		__u64 delta = now - run->since_ns;
		__u64 runtime = prev->se.sum_exec_runtime;
		if (run->pid == (__u64)prev->pid && runtime >= run->runtime_ns && runtime - run->runtime_ns <= delta)
			delta = runtime - run->runtime_ns;
		__u64 *total = bpf_map_lookup_elem(&kh_cpu_ns, &cgroup_id);
		if (total) {
			*total += delta; /* this CPU's slot: no other writer */
		} else if (bpf_map_update_elem(&kh_cpu_ns, &cgroup_id, &delta, BPF_NOEXIST)) {
			/* Another CPU inserted the key first; add to our slot of its entry. */
			total = bpf_map_lookup_elem(&kh_cpu_ns, &cgroup_id);
			if (total)
				*total += delta;
		}
	}
	run->since_ns = now;
	/* The idle task (pid 0) is nobody's CPU time. BTF-typed pointers: plain loads, no helper. */
	run->cgroup_id = next->pid ? next->cgroups->dfl_cgrp->kn->id : 0;
	run->runtime_ns = next->se.sum_exec_runtime;
	run->pid = next->pid;
	return 0;
}
