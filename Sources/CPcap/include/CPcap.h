// CPcap: libpcap for Swift (links -lpcap).
//
// Never include libbpf or libxdp here (nor include this from CXDP.h):
// <pcap/bpf.h> and <linux/bpf.h> both define struct bpf_insn and the BPF_*
// opcode macros, and one Clang module cannot hold both definitions.
//
// Everything libpcap offers imports into Swift as it is; this header only
// adds constants that are macros Swift does not import.
#ifndef CPCAP_H
#define CPCAP_H

#include <stdint.h>
#include <poll.h>
#include <pcap/pcap.h>

// PCAP_ERRBUF_SIZE is a plain macro and imports, but PCAP_NETMASK_UNKNOWN is
// written as an unsigned hex literal Swift imports with a narrow type on
// some libpcap versions; give both a fixed type.
static const int WP_PCAP_ERRBUF_SIZE = PCAP_ERRBUF_SIZE;
static const uint32_t WP_PCAP_NETMASK_UNKNOWN = 0xffffffffu;

// The link types Wirepath reads (DLT_EN10MB and Linux cooked captures).
static const int WP_DLT_EN10MB = DLT_EN10MB;
static const int WP_DLT_LINUX_SLL = DLT_LINUX_SLL;
static const int WP_DLT_LINUX_SLL2 = 276;

#endif
