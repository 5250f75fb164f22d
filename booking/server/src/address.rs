//! Which addresses calendar sync may connect to: the guard against server-side request
//! forgery. A counsellor types a URL; the server must not become their way into the centre's
//! own network (loopback, private ranges, the cloud metadata address, …).
//!
//! An address is *public* when it is global unicast. IPv6 forms that carry an IPv4 address are
//! judged by that address where they are a real route to it (IPv4-mapped `::ffff:a.b.c.d`, the
//! NAT64 well-known prefix `64:ff9b::/96`), and refused where they are obsolete or obscure the
//! address (IPv4-compatible `::a.b.c.d`, IPv4-translated `::ffff:0:a.b.c.d`, 6to4 `2002::/16`,
//! Teredo `2001::/32`). Everything outside the global unicast block `2000::/3` is refused
//! (site-local `fec0::/10`, unique-local, link-local, multicast, …), and so are the blocks
//! inside it that are not global (IETF protocol assignments, documentation).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IPv6 prefixes inside `2000::/3` that are not global unicast: (network, prefix length, why).
const V6_NOT_GLOBAL: [(Ipv6Addr, u8, &str); 4] = [
    // RFC 2928: Teredo (2001::/32), benchmarking, ORCHID, AMT … none is a calendar server.
    (
        Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
        23,
        "IETF protocol assignments",
    ),
    (
        Ipv6Addr::new(0x2001, 0x0db8, 0, 0, 0, 0, 0, 0),
        32,
        "documentation",
    ),
    // RFC 3056/7526: 6to4 carries an IPv4 address and is deprecated.
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16, "6to4"),
    // RFC 9637.
    (
        Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
        20,
        "documentation",
    ),
];

/// The NAT64 well-known prefix (RFC 6052): `64:ff9b::a.b.c.d` reaches IPv4 `a.b.c.d`.
const NAT64_WELL_KNOWN: Ipv6Addr = Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0);

fn in_prefix(ip: Ipv6Addr, net: Ipv6Addr, len: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    u128::from(ip) & mask == u128::from(net) & mask
}

/// The IPv4 address in the low 32 bits.
fn low_v4(ip: Ipv6Addr) -> Ipv4Addr {
    // Truncation keeps exactly the low 32 bits, which is the point.
    Ipv4Addr::from(u128::from(ip) as u32)
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let o = v4.octets();
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || o[0] == 0
        // 100.64.0.0/10: carrier-grade NAT (RFC 6598).
        || (o[0] == 100 && (64..128).contains(&o[1]))
        // 192.0.0.0/24: IETF protocol assignments (RFC 6890).
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        // 192.88.99.0/24: 6to4 relay anycast (deprecated, RFC 7526).
        || (o[0] == 192 && o[1] == 88 && o[2] == 99)
        // 198.18.0.0/15: benchmarking (RFC 2544).
        || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
        // 240.0.0.0/4: reserved.
        || o[0] >= 240)
}

fn is_public_v6(v6: Ipv6Addr) -> bool {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    if in_prefix(v6, NAT64_WELL_KNOWN, 96) {
        return is_public_v4(low_v4(v6));
    }
    // Global unicast is 2000::/3; everything else (::/96 IPv4-compatible, ::ffff:0:0:0/96
    // IPv4-translated, 64:ff9b:1::/48, 100::/64, fc00::/7, fe80::/10, fec0::/10, ff00::/8, …)
    // is not public.
    if !in_prefix(v6, Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3) {
        return false;
    }
    !V6_NOT_GLOBAL
        .iter()
        .any(|(net, len, _)| in_prefix(v6, *net, *len))
}

/// Whether `ip` is a global unicast address that calendar sync may connect to (see the
/// module documentation for what is refused and why).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(s: &str) -> bool {
        is_public(s.parse().unwrap())
    }

    #[test]
    fn ipv4_non_global_ranges_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.5",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "192.0.0.8",
            "192.88.99.1",
            "240.0.0.1",
        ] {
            assert!(!public(ip), "{ip}");
        }
        for ip in ["1.1.1.1", "93.184.216.34", "8.8.8.8"] {
            assert!(public(ip), "{ip}");
        }
    }

    #[test]
    fn ipv6_non_global_ranges_are_refused() {
        for ip in [
            "::",
            "::1",
            "fe80::1",
            "fd00::1",
            "fc00::1",
            "ff02::1",
            "2001:db8::1",
            "3fff::1",
            "100::1",
        ] {
            assert!(!public(ip), "{ip}");
        }
        for ip in ["2a00:1450:4001::200e", "2606:4700::1111"] {
            assert!(public(ip), "{ip}");
        }
    }

    #[test]
    fn ipv4_compatible_addresses_are_refused() {
        // ::a.b.c.d (deprecated), whatever the IPv4 address it carries.
        assert!(!public("::127.0.0.1"));
        assert!(!public("::10.0.0.1"));
        assert!(!public("::8.8.8.8"));
    }

    #[test]
    fn ipv4_mapped_addresses_are_judged_by_their_ipv4_address() {
        // ::ffff:0:0/96.
        assert!(!public("::ffff:127.0.0.1"));
        assert!(!public("::ffff:169.254.169.254"));
        assert!(!public("::ffff:0:0"));
        assert!(public("::ffff:8.8.8.8"));
        // ::ffff:0:0:0/96, IPv4-translated (RFC 2765), is refused outright.
        assert!(!public("::ffff:0:8.8.8.8"));
        assert!(!public("::ffff:0:127.0.0.1"));
    }

    #[test]
    fn nat64_addresses_are_judged_by_their_ipv4_address() {
        // 64:ff9b::/96.
        assert!(!public("64:ff9b::127.0.0.1"));
        assert!(!public("64:ff9b::10.0.0.1"));
        assert!(!public("64:ff9b::a9fe:a9fe"));
        assert!(public("64:ff9b::8.8.8.8"));
        // The local-use prefix 64:ff9b:1::/48 (RFC 8215) is not global.
        assert!(!public("64:ff9b:1::808:808"));
    }

    #[test]
    fn six_to_four_addresses_are_refused() {
        // 2002::/16, whatever it carries.
        assert!(!public("2002:7f00:1::1"));
        assert!(!public("2002:808:808::1"));
    }

    #[test]
    fn site_local_addresses_are_refused() {
        // fec0::/10.
        assert!(!public("fec0::1"));
        assert!(!public("feff:ffff::1"));
    }

    #[test]
    fn teredo_addresses_are_refused() {
        // 2001::/32 (and the rest of 2001::/23).
        assert!(!public("2001::1"));
        assert!(!public("2001:0:4136:e378:8000:63bf:3fff:fdd2"));
        assert!(!public("2001:2::1"));
        // Right after the block: global.
        assert!(public("2001:200::1"));
    }
}
