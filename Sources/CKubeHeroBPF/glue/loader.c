/*
 * The loader glue of CKubeHeroBPF. This file is not compiled from here: the KubeHeroBPFSkeletons
 * build plugin copies it next to the skeleton headers it generates from the agent/bpf programs
 * (SwiftPM puts a plugin's include/ directory on the header path only for plugin-generated
 * sources), so that it always builds against the skeletons of the same build.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "kubehero_bpf.h"
#include "kubehero_bpf_maps.h"
#include "kh_cpu.skel.h"
#include "kh_net.skel.h"

#define KH_BATCH_MAX 256

struct kh_bpf {
	unsigned int parts;
	struct kh_cpu *cpu;
	struct kh_net *net;
	int cpus; /* possible CPUs: the stride of per-CPU values */
	/* Scratch for batch reads: keys and per-CPU values of up to KH_BATCH_MAX entries. */
	void *keys;
	void *values;
};

_Static_assert(sizeof(struct kh_net_key) == 16, "kh_net_key layout");
_Static_assert(sizeof(struct kh_net_value) == 16, "kh_net_value layout");
_Static_assert(sizeof(struct kh_cpu_running) == 32, "kh_cpu_running layout");

static int kh_fail(char *err, size_t err_len, int code, const char *format, ...)
{
	if (err && err_len) {
		va_list args;
		va_start(args, format);
		int n = vsnprintf(err, err_len, format, args);
		va_end(args);
		if (code && n >= 0 && (size_t)n < err_len)
			snprintf(err + n, err_len - n, ": %s", strerror(code > 0 ? code : -code));
	}
	return code > 0 ? -code : (code ? code : -EINVAL);
}

int kh_bpf_load(unsigned int parts, kh_bpf **out, char *err, size_t err_len)
{
	*out = NULL;
	if (!parts || (parts & ~(KH_BPF_PART_CPU | KH_BPF_PART_NET)))
		return kh_fail(err, err_len, EINVAL, "no BPF parts requested");
	kh_bpf *bpf = calloc(1, sizeof(*bpf));
	if (!bpf)
		return kh_fail(err, err_len, ENOMEM, "allocating the loader");
	bpf->parts = parts;
	bpf->cpus = libbpf_num_possible_cpus();
	if (bpf->cpus <= 0) {
		int code = bpf->cpus;
		free(bpf);
		return kh_fail(err, err_len, code, "counting possible CPUs");
	}
	/* Per-CPU values are padded to 8 bytes each; the largest value is 16 bytes. */
	bpf->keys = calloc(KH_BATCH_MAX, sizeof(struct kh_net_key));
	bpf->values = calloc((size_t)KH_BATCH_MAX * bpf->cpus, sizeof(struct kh_net_value));
	if (!bpf->keys || !bpf->values) {
		kh_bpf_close(bpf);
		return kh_fail(err, err_len, ENOMEM, "allocating read buffers");
	}
	if (parts & KH_BPF_PART_CPU) {
		bpf->cpu = kh_cpu__open();
		if (!bpf->cpu) {
			int code = errno;
			kh_bpf_close(bpf);
			return kh_fail(err, err_len, code, "opening the sched_switch program");
		}
		int rc = kh_cpu__load(bpf->cpu);
		if (rc) {
			kh_bpf_close(bpf);
			return kh_fail(err, err_len, rc, "loading the sched_switch program (tp_btf needs BTF and CAP_BPF+CAP_PERFMON)");
		}
	}
	if (parts & KH_BPF_PART_NET) {
		bpf->net = kh_net__open();
		if (!bpf->net) {
			int code = errno;
			kh_bpf_close(bpf);
			return kh_fail(err, err_len, code, "opening the cgroup_skb programs");
		}
		int rc = kh_net__load(bpf->net);
		if (rc) {
			kh_bpf_close(bpf);
			return kh_fail(err, err_len, rc, "loading the cgroup_skb programs (needs CAP_BPF+CAP_NET_ADMIN)");
		}
	}
	*out = bpf;
	return 0;
}

int kh_bpf_attach(kh_bpf *bpf, const char *cgroup_v2_root, char *err, size_t err_len)
{
	if (bpf->cpu && !bpf->cpu->links.kh_sched_switch) {
		struct bpf_link *link = bpf_program__attach(bpf->cpu->progs.kh_sched_switch);
		if (!link)
			return kh_fail(err, err_len, errno, "attaching to tp_btf/sched_switch");
		bpf->cpu->links.kh_sched_switch = link;
	}
	if (bpf->net && !bpf->net->links.kh_skb_egress) {
		if (!cgroup_v2_root || !*cgroup_v2_root)
			return kh_fail(err, err_len, EINVAL, "no cgroup v2 hierarchy to attach the cgroup_skb programs to");
		int fd = open(cgroup_v2_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return kh_fail(err, err_len, errno, "opening the cgroup v2 root %s", cgroup_v2_root);
		/* bpf_link attachments (multi-attach): they go away with the links, so a crashed
		 * agent leaves nothing attached, and they never replace another tool's programs. */
		struct bpf_link *egress = bpf_program__attach_cgroup(bpf->net->progs.kh_skb_egress, fd);
		if (!egress) {
			int code = errno;
			close(fd);
			return kh_fail(err, err_len, code, "attaching cgroup_skb/egress to %s", cgroup_v2_root);
		}
		struct bpf_link *ingress = bpf_program__attach_cgroup(bpf->net->progs.kh_skb_ingress, fd);
		if (!ingress) {
			int code = errno;
			bpf_link__destroy(egress);
			close(fd);
			return kh_fail(err, err_len, code, "attaching cgroup_skb/ingress to %s", cgroup_v2_root);
		}
		close(fd);
		bpf->net->links.kh_skb_egress = egress;
		bpf->net->links.kh_skb_ingress = ingress;
	}
	return 0;
}

void kh_bpf_close(kh_bpf *bpf)
{
	if (!bpf)
		return;
	/* __destroy detaches every link in the skeleton, then closes programs and maps. */
	if (bpf->cpu)
		kh_cpu__destroy(bpf->cpu);
	if (bpf->net)
		kh_net__destroy(bpf->net);
	free(bpf->keys);
	free(bpf->values);
	free(bpf);
}

unsigned int kh_bpf_parts(const kh_bpf *bpf)
{
	return bpf->parts;
}

/* Writes (`class_id` given) or deletes (NULL) the rule for one CIDR in its family's table. */
static int kh_class_rule(kh_bpf *bpf, int family, const uint8_t *addr, uint32_t prefix_len, const uint32_t *class_id)
{
	if (!bpf->net)
		return -ENOENT;
	struct bpf_map *map;
	struct kh_lpm_v4 v4 = { .prefixlen = prefix_len };
	struct kh_lpm_v6 v6 = { .prefixlen = prefix_len };
	void *key;
	size_t key_size;
	if (family == 4 && prefix_len <= 32) {
		memcpy(v4.addr, addr, 4);
		map = bpf->net->maps.kh_class_v4, key = &v4, key_size = sizeof(v4);
	} else if (family == 6 && prefix_len <= 128) {
		memcpy(v6.addr, addr, 16);
		map = bpf->net->maps.kh_class_v6, key = &v6, key_size = sizeof(v6);
	} else {
		return family == 4 || family == 6 ? -EINVAL : -EAFNOSUPPORT;
	}
	if (class_id)
		return bpf_map__update_elem(map, key, key_size, class_id, sizeof(*class_id), BPF_ANY);
	return bpf_map__delete_elem(map, key, key_size, 0);
}

int kh_bpf_put_class(kh_bpf *bpf, int family, const uint8_t *addr, uint32_t prefix_len, uint32_t class_id)
{
	return kh_class_rule(bpf, family, addr, prefix_len, &class_id);
}

int kh_bpf_delete_class(kh_bpf *bpf, int family, const uint8_t *addr, uint32_t prefix_len)
{
	return kh_class_rule(bpf, family, addr, prefix_len, NULL);
}

/*
 * Reads up to `cap` entries of a per-CPU hash map into bpf->keys / bpf->values with one
 * BPF_MAP_LOOKUP_BATCH call. Returns the number read (0 at the end) or -errno.
 */
static long kh_read_batch(kh_bpf *bpf, int fd, kh_bpf_cursor *cursor, size_t cap)
{
	if (cursor->done)
		return 0;
	if (cap > KH_BATCH_MAX)
		cap = KH_BATCH_MAX;
	if (cap == 0)
		return -EINVAL;
	__u32 count = (__u32)cap;
	uint64_t next = 0;
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	int rc = bpf_map_lookup_batch(fd, cursor->started ? &cursor->token : NULL, &next, bpf->keys, bpf->values, &count, &opts);
	cursor->started = 1;
	if (rc && errno == ENOENT) {
		/* The last batch: `count` entries were still written. */
		cursor->done = 1;
		return count;
	}
	if (rc)
		return -errno;
	cursor->token = next;
	return count;
}

long kh_bpf_read_cpu(kh_bpf *bpf, kh_bpf_cursor *cursor, kh_bpf_cpu_record *out, size_t cap)
{
	if (!bpf->cpu)
		return -ENOENT;
	long n = kh_read_batch(bpf, bpf_map__fd(bpf->cpu->maps.kh_cpu_ns), cursor, cap);
	if (n <= 0)
		return n;
	const __u64 *keys = bpf->keys;
	const __u64 *values = bpf->values;
	for (long i = 0; i < n; i++) {
		__u64 sum = 0;
		for (int c = 0; c < bpf->cpus; c++)
			sum += values[i * bpf->cpus + c];
		out[i].cgroup_id = keys[i];
		out[i].nanos = sum;
	}
	return n;
}

long kh_bpf_read_running(kh_bpf *bpf, kh_bpf_cpu_record *out, size_t cap)
{
	if (!bpf->cpu)
		return -ENOENT;
	__u32 zero = 0;
	struct kh_cpu_running *running = bpf->values; /* one per CPU, 32 bytes: fits */
	if (bpf_map_lookup_elem(bpf_map__fd(bpf->cpu->maps.kh_running), &zero, running))
		return -errno;
	long n = 0;
	for (int c = 0; c < bpf->cpus && (size_t)n < cap; c++) {
		if (!running[c].since_ns || !running[c].cgroup_id)
			continue;
		out[n].cgroup_id = running[c].cgroup_id;
		out[n].nanos = running[c].since_ns;
		n++;
	}
	return n;
}

long kh_bpf_read_net(kh_bpf *bpf, kh_bpf_cursor *cursor, kh_bpf_net_record *out, size_t cap)
{
	if (!bpf->net)
		return -ENOENT;
	long n = kh_read_batch(bpf, bpf_map__fd(bpf->net->maps.kh_net), cursor, cap);
	if (n <= 0)
		return n;
	const struct kh_net_key *keys = bpf->keys;
	const struct kh_net_value *values = bpf->values;
	for (long i = 0; i < n; i++) {
		__u64 bytes = 0, packets = 0;
		for (int c = 0; c < bpf->cpus; c++) {
			bytes += values[i * bpf->cpus + c].bytes;
			packets += values[i * bpf->cpus + c].packets;
		}
		out[i].cgroup_id = keys[i].cgroup_id;
		out[i].direction = keys[i].direction;
		out[i].class_id = keys[i].class_id;
		out[i].bytes = bytes;
		out[i].packets = packets;
	}
	return n;
}

uint64_t kh_bpf_monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int kh_program_info(const struct bpf_program *program, const struct bpf_link *link, kh_bpf_program_info *out)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(bpf_program__fd(program), &info, &len))
		return -errno;
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", bpf_program__name(program));
	out->program_id = info.id;
	out->run_time_ns = info.run_time_ns;
	out->run_count = info.run_cnt;
	if (link) {
		struct bpf_link_info link_info;
		__u32 link_len = sizeof(link_info);
		memset(&link_info, 0, sizeof(link_info));
		if (!bpf_obj_get_info_by_fd(bpf_link__fd(link), &link_info, &link_len))
			out->link_id = link_info.id;
	}
	return 0;
}

long kh_bpf_programs(kh_bpf *bpf, kh_bpf_program_info *out, size_t cap)
{
	long n = 0;
	int rc;
	if (bpf->cpu && (size_t)n < cap) {
		if ((rc = kh_program_info(bpf->cpu->progs.kh_sched_switch, bpf->cpu->links.kh_sched_switch, &out[n])))
			return rc;
		n++;
	}
	if (bpf->net && (size_t)n + 2 <= cap) {
		if ((rc = kh_program_info(bpf->net->progs.kh_skb_egress, bpf->net->links.kh_skb_egress, &out[n])))
			return rc;
		n++;
		if ((rc = kh_program_info(bpf->net->progs.kh_skb_ingress, bpf->net->links.kh_skb_ingress, &out[n])))
			return rc;
		n++;
	}
	return n;
}

int kh_bpf_program_exists(uint32_t id)
{
	int fd = bpf_prog_get_fd_by_id(id);
	if (fd >= 0) {
		close(fd);
		return 1;
	}
	return errno == ENOENT ? 0 : -errno;
}

int kh_bpf_link_exists(uint32_t id)
{
	int fd = bpf_link_get_fd_by_id(id);
	if (fd >= 0) {
		close(fd);
		return 1;
	}
	return errno == ENOENT ? 0 : -errno;
}

int kh_bpf_enable_stats(void)
{
	int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	return fd >= 0 ? fd : -errno;
}

void kh_bpf_close_fd(int fd)
{
	if (fd >= 0)
		close(fd);
}
