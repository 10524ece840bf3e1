/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Layouts shared by the BPF programs (cpu.bpf.c, net.bpf.c) and the user-space loader
 * (Sources/CKubeHeroBPF). Plain fixed-width fields only, so both sides agree byte for byte.
 * The BPF side includes vmlinux.h before this file; user space includes <linux/types.h>.
 */
#ifndef KUBEHERO_BPF_MAPS_H
#define KUBEHERO_BPF_MAPS_H

/* Bounds of the maps. Entries come and go with containers, so the per-cgroup maps are LRU:
 * a node with more cgroups than this loses its least recently updated counters (they restart
 * from zero, which the agent reads as a counter reset) rather than failing inserts. */
#define KH_MAX_CGROUPS 16384
/* (cgroup, direction, class) triples: two directions x a handful of classes per cgroup. */
#define KH_MAX_NET_KEYS 65536
/* CIDR rules per address family. */
#define KH_MAX_CIDRS 16384

/* Direction of a packet, as seen from the socket's cgroup. */
#define KH_DIR_EGRESS 0
#define KH_DIR_INGRESS 1

/* The class a destination that matches no CIDR rule gets (the agent writes rules for every
 * other class; user space decides what class numbers mean). */
#define KH_CLASS_UNMATCHED 0xffffffffu

/* What runs on one CPU since its last context switch: user space adds the part of the slice
 * that has not ended yet, so a task that has not been switched out for seconds is not missed. */
struct kh_cpu_running {
	__u64 since_ns;   /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) at switch-in; 0 = not known yet */
	__u64 cgroup_id;  /* v2 cgroup id of the task switched in; 0 = idle */
	__u64 runtime_ns; /* its se.sum_exec_runtime at switch-in */
	__u64 pid;        /* its pid, to know the runtime is its own at switch-out */
};

struct kh_net_key {
	__u64 cgroup_id;
	__u32 direction;  /* KH_DIR_* */
	__u32 class_id;   /* value of the longest matching CIDR rule, or KH_CLASS_UNMATCHED */
};

struct kh_net_value {
	__u64 bytes;      /* skb->len: IP header, transport header and payload */
	__u64 packets;
};

struct kh_lpm_v4 {
	__u32 prefixlen;
	__u8 addr[4];
};

struct kh_lpm_v6 {
	__u32 prefixlen;
	__u8 addr[16];
};

#endif
