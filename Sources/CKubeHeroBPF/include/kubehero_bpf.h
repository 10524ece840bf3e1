/*
 * CKubeHeroBPF: the agent's thin C layer over libbpf. It loads the BPF programs of
 * agent/bpf (built into skeletons during `swift build` by the KubeHeroBPFSkeletons plugin),
 * attaches them, fills the CIDR class tries, and reads the counter maps in batches, summing
 * per-CPU values. Everything else (what the numbers mean, deltas, names) is Swift's job.
 *
 * Every function that can fail returns 0 or a count on success and a negative errno on
 * failure; the ones that take `err` also write a one-line reason there.
 */
#ifndef KUBEHERO_BPF_H
#define KUBEHERO_BPF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Which programs to load. */
#define KH_BPF_PART_CPU 1u
#define KH_BPF_PART_NET 2u

/* Directions and the unmatched class, as the BPF programs write them. */
#define KH_BPF_EGRESS 0u
#define KH_BPF_INGRESS 1u
#define KH_BPF_CLASS_UNMATCHED 0xffffffffu
/* Capacity of each class table (one per address family): KH_MAX_CIDRS in agent/bpf. */
#define KH_BPF_MAX_CLASS_RULES 16384u

typedef struct kh_bpf kh_bpf;

/* Opens and loads the programs in `parts` (verifier included), nothing attached yet. */
int kh_bpf_load(unsigned int parts, kh_bpf **out, char *err, size_t err_len);

/* Attaches what was loaded: sched_switch, and the two cgroup_skb programs to the cgroup v2
 * hierarchy at `cgroup_v2_root` (links, multi-attach: other programs there stay). */
int kh_bpf_attach(kh_bpf *bpf, const char *cgroup_v2_root, char *err, size_t err_len);

/* Detaches (links destroyed) and unloads everything; `bpf` is freed. NULL is fine. */
void kh_bpf_close(kh_bpf *bpf);

/* What was loaded (KH_BPF_PART_* bits). */
unsigned int kh_bpf_parts(const kh_bpf *bpf);

/* Puts a CIDR rule: `family` 4 or 6, `addr` 4 or 16 bytes in network order. The longest
 * matching prefix wins; an address matching none is KH_BPF_CLASS_UNMATCHED. */
int kh_bpf_put_class(kh_bpf *bpf, int family, const uint8_t *addr, uint32_t prefix_len, uint32_t class_id);

/* Removes the CIDR rule put for exactly (`family`, `addr`, `prefix_len`); addresses it matched
 * fall back to the next longest rule. 0, or -ENOENT when no such rule was there. */
int kh_bpf_delete_class(kh_bpf *bpf, int family, const uint8_t *addr, uint32_t prefix_len);

/* A cursor over a map read in batches; zero it before the first call. */
typedef struct kh_bpf_cursor {
	uint64_t token;
	int started;
	int done;
} kh_bpf_cursor;

typedef struct kh_bpf_cpu_record {
	uint64_t cgroup_id;
	uint64_t nanos; /* on-CPU time, summed over CPUs, cumulative */
} kh_bpf_cpu_record;

/* Reads up to `cap` (at most 256) cgroups' CPU totals from where `cursor` stands. Returns
 * the number written; sets cursor->done when the map has been read to its end. */
long kh_bpf_read_cpu(kh_bpf *bpf, kh_bpf_cursor *cursor, kh_bpf_cpu_record *out, size_t cap);

/* The slice running on each CPU now, not yet counted: one record per CPU with a known
 * running cgroup, `nanos` = the slice's start (CLOCK_MONOTONIC ns). Returns the count. */
long kh_bpf_read_running(kh_bpf *bpf, kh_bpf_cpu_record *out, size_t cap);

typedef struct kh_bpf_net_record {
	uint64_t cgroup_id;
	uint32_t direction; /* KH_BPF_EGRESS / KH_BPF_INGRESS */
	uint32_t class_id;
	uint64_t bytes;     /* IP packet lengths (headers included), cumulative */
	uint64_t packets;
} kh_bpf_net_record;

/* Like kh_bpf_read_cpu, for the network counters. */
long kh_bpf_read_net(kh_bpf *bpf, kh_bpf_cursor *cursor, kh_bpf_net_record *out, size_t cap);

/* CLOCK_MONOTONIC in ns: the clock of bpf_ktime_get_ns. */
uint64_t kh_bpf_monotonic_ns(void);

typedef struct kh_bpf_program_info {
	char name[32];
	uint32_t program_id;
	uint32_t link_id;      /* 0 when not attached */
	uint64_t run_time_ns;  /* with kernel.bpf_stats_enabled=1 */
	uint64_t run_count;
} kh_bpf_program_info;

/* The loaded programs with their kernel ids and run statistics. Returns the count. */
long kh_bpf_programs(kh_bpf *bpf, kh_bpf_program_info *out, size_t cap);

/* Whether the kernel still has a program / link with this id: 1 yes, 0 no, <0 error. */
int kh_bpf_program_exists(uint32_t id);
int kh_bpf_link_exists(uint32_t id);

/* Turns on run-time statistics (BPF_ENABLE_STATS) for as long as the returned fd is open. */
int kh_bpf_enable_stats(void);
void kh_bpf_close_fd(int fd);

#ifdef __cplusplus
}
#endif
#endif
