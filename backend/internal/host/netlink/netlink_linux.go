//go:build linux

// Package netlink is a minimal rtnetlink client: just what a sandbox seat's
// network needs (create a veth pair with one end in the seat's namespace,
// address it, bring it up, add a default route, delete it again), used by
// the runtime on the host and by the seat's init inside. Talking netlink
// directly instead of running `ip` keeps seat creation to a few syscalls.
package netlink

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

const vethInfoPeer = 1 // VETH_INFO_PEER

var nlSeq atomic.Uint32

// nlAttr is one rtnetlink attribute; children are nested attributes.
type nlAttr struct {
	typ      uint16
	data     []byte
	children []nlAttr
}

func (a nlAttr) encode() []byte {
	payload := append([]byte(nil), a.data...)
	for _, c := range a.children {
		payload = append(payload, c.encode()...)
	}
	n := 4 + len(payload)
	b := make([]byte, (n+3)&^3)
	binary.NativeEndian.PutUint16(b[0:2], uint16(n))
	binary.NativeEndian.PutUint16(b[2:4], a.typ)
	copy(b[4:], payload)
	return b
}

func attrString(typ uint16, s string) nlAttr { return nlAttr{typ: typ, data: append([]byte(s), 0)} }

func attrU32(typ uint16, v uint32) nlAttr {
	b := make([]byte, 4)
	binary.NativeEndian.PutUint32(b, v)
	return nlAttr{typ: typ, data: b}
}

func ifInfoMsg(index int32, flags, change uint32) []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	b[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(b[4:8], uint32(index))
	binary.NativeEndian.PutUint32(b[8:12], flags)
	binary.NativeEndian.PutUint32(b[12:16], change)
	return b
}

// nlRequest sends one request with NLM_F_ACK and waits for its answer.
func nlRequest(typ, flags uint16, body []byte, attrs ...nlAttr) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink bind: %w", err)
	}
	msg := append([]byte(nil), body...)
	for _, a := range attrs {
		msg = append(msg, a.encode()...)
	}
	seq := nlSeq.Add(1)
	hdr := make([]byte, unix.SizeofNlMsghdr)
	binary.NativeEndian.PutUint32(hdr[0:4], uint32(unix.SizeofNlMsghdr+len(msg)))
	binary.NativeEndian.PutUint16(hdr[4:6], typ)
	binary.NativeEndian.PutUint16(hdr[6:8], flags|unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	binary.NativeEndian.PutUint32(hdr[8:12], seq)
	if err := unix.Sendto(fd, append(hdr, msg...), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink send: %w", err)
	}
	buf := make([]byte, 8192)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return fmt.Errorf("netlink recv: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("netlink parse: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != seq {
				continue
			}
			if m.Header.Type == unix.NLMSG_ERROR {
				if len(m.Data) < 4 {
					return errors.New("netlink: short error message")
				}
				if code := int32(binary.NativeEndian.Uint32(m.Data[0:4])); code != 0 {
					return unix.Errno(-code)
				}
				return nil
			}
		}
	}
}

// linkIndex returns the interface index of name in the caller's namespace.
func linkIndex(name string) (int32, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, fmt.Errorf("interface %s: %w", name, err)
	}
	return int32(ifr.Uint32()), nil
}

// CreateVeth creates the pair hostName <-> peerName and puts the peer into
// the network namespace of process pid.
func CreateVeth(hostName, peerName string, pid int) error {
	peer := append(ifInfoMsg(0, 0, 0), attrString(unix.IFLA_IFNAME, peerName).encode()...)
	peer = append(peer, attrU32(unix.IFLA_NET_NS_PID, uint32(pid)).encode()...)
	err := nlRequest(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL, ifInfoMsg(0, 0, 0),
		attrString(unix.IFLA_IFNAME, hostName),
		nlAttr{typ: unix.IFLA_LINKINFO, children: []nlAttr{
			attrString(unix.IFLA_INFO_KIND, "veth"),
			{typ: unix.IFLA_INFO_DATA, children: []nlAttr{{typ: vethInfoPeer, data: peer}}},
		}})
	if err != nil {
		return fmt.Errorf("create veth %s: %w", hostName, err)
	}
	return nil
}

// DeleteLink deletes an interface by name; a missing one is not an error.
func DeleteLink(name string) error {
	err := nlRequest(unix.RTM_DELLINK, 0, ifInfoMsg(0, 0, 0), attrString(unix.IFLA_IFNAME, name))
	if err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}

// LinkExists reports whether an interface called name exists here.
func LinkExists(name string) bool {
	_, err := linkIndex(name)
	return err == nil
}

// LinkUp sets the interface up.
func LinkUp(name string) error {
	idx, err := linkIndex(name)
	if err != nil {
		return err
	}
	if err := nlRequest(unix.RTM_NEWLINK, 0, ifInfoMsg(idx, unix.IFF_UP, unix.IFF_UP)); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}

// AddAddr adds the address p to the interface.
func AddAddr(name string, p netip.Prefix) error {
	idx, err := linkIndex(name)
	if err != nil {
		return err
	}
	b := make([]byte, unix.SizeofIfAddrmsg)
	b[0] = unix.AF_INET
	b[1] = byte(p.Bits())
	b[3] = unix.RT_SCOPE_UNIVERSE
	binary.NativeEndian.PutUint32(b[4:8], uint32(idx))
	a := p.Addr().As4()
	if err := nlRequest(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL, b,
		nlAttr{typ: unix.IFA_LOCAL, data: a[:]}, nlAttr{typ: unix.IFA_ADDRESS, data: a[:]}); err != nil {
		return fmt.Errorf("address %s on %s: %w", p, name, err)
	}
	return nil
}

// AddDefaultRoute adds the default route via gw on the interface.
func AddDefaultRoute(name string, gw netip.Addr) error {
	idx, err := linkIndex(name)
	if err != nil {
		return err
	}
	b := make([]byte, unix.SizeofRtMsg)
	b[0] = unix.AF_INET
	b[4] = unix.RT_TABLE_MAIN
	b[5] = unix.RTPROT_BOOT
	b[6] = unix.RT_SCOPE_UNIVERSE
	b[7] = unix.RTN_UNICAST
	g := gw.As4()
	if err := nlRequest(unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_EXCL, b,
		nlAttr{typ: unix.RTA_GATEWAY, data: g[:]}, attrU32(unix.RTA_OIF, uint32(idx))); err != nil {
		return fmt.Errorf("default route via %s: %w", gw, err)
	}
	return nil
}

// SetIfSysctl writes /proc/sys/net/<family>/conf/<ifname>/<key>; a missing
// file (IPv6 disabled in the kernel) is ignored.
func SetIfSysctl(family, ifname, key, value string) error {
	err := os.WriteFile("/proc/sys/net/"+family+"/conf/"+ifname+"/"+key, []byte(value), 0o644)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
