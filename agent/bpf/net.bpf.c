// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Network bytes and packets per (cgroup v2 id, direction, destination class).
 *
 * cgroup_skb programs attached to the cgroup v2 root see every IP packet of every socket in
 * the hierarchy. The peer address (destination on egress, source on ingress) is looked up in
 * an LPM trie of CIDR rules that user space fills; the rule's value is the class. The programs
 * only count: they always return 1, so no packet is ever dropped.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "kubehero_bpf_maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define KH_ETH_P_IP 0x0800
#define KH_ETH_P_IPV6 0x86DD

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, KH_MAX_CIDRS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct kh_lpm_v4);
	__type(value, __u32);
} kh_class_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, KH_MAX_CIDRS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct kh_lpm_v6);
	__type(value, __u32);
} kh_class_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, KH_MAX_NET_KEYS);
	__type(key, struct kh_net_key);
	__type(value, struct kh_net_value);
} kh_net SEC(".maps");

static __always_inline __u32 kh_classify(struct __sk_buff *skb, __u32 direction)
{
	__u32 *class_id = 0;
	if (skb->protocol == bpf_htons(KH_ETH_P_IP)) {
		struct kh_lpm_v4 key = { .prefixlen = 32 };
		/* iphdr: saddr at 12, daddr at 16 (cgroup_skb data starts at the network header). */
		if (bpf_skb_load_bytes(skb, direction == KH_DIR_EGRESS ? 16 : 12, key.addr, 4))
			return KH_CLASS_UNMATCHED;
		class_id = bpf_map_lookup_elem(&kh_class_v4, &key);
	} else if (skb->protocol == bpf_htons(KH_ETH_P_IPV6)) {
		struct kh_lpm_v6 key = { .prefixlen = 128 };
		/* ipv6hdr: saddr at 8, daddr at 24. */
		if (bpf_skb_load_bytes(skb, direction == KH_DIR_EGRESS ? 24 : 8, key.addr, 16))
			return KH_CLASS_UNMATCHED;
		class_id = bpf_map_lookup_elem(&kh_class_v6, &key);
	}
	return class_id ? *class_id : KH_CLASS_UNMATCHED;
}

static __always_inline void kh_count(struct __sk_buff *skb, __u32 direction)
{
	struct kh_net_key key = {
		.cgroup_id = bpf_skb_cgroup_id(skb),
		.direction = direction,
		.class_id = kh_classify(skb, direction),
	};
	struct kh_net_value *value = bpf_map_lookup_elem(&kh_net, &key);
	if (value) {
		/* Per-CPU value: this CPU is its only writer. */
		value->bytes += skb->len;
		value->packets += 1;
		return;
	}
	struct kh_net_value first = { .bytes = skb->len, .packets = 1 };
	if (bpf_map_update_elem(&kh_net, &key, &first, BPF_NOEXIST)) {
		value = bpf_map_lookup_elem(&kh_net, &key);
		if (value) {
			value->bytes += skb->len;
			value->packets += 1;
		}
	}
}

SEC("cgroup_skb/egress")
int kh_skb_egress(struct __sk_buff *skb)
{
	kh_count(skb, KH_DIR_EGRESS);
	return 1;
}

SEC("cgroup_skb/ingress")
int kh_skb_ingress(struct __sk_buff *skb)
{
	kh_count(skb, KH_DIR_INGRESS);
	return 1;
}
