//go:build linux

package seatinit

// The seat spawner starts a seat's init in the seat's new namespaces so
// that the agent never forks itself with CLONE_NEWUSER. Go's fork (os/exec)
// uses CLONE_VFORK|CLONE_VM, which copies nothing, only when the clone
// makes no user namespace: with one, the parent must write the child's uid
// and gid maps while the child waits, which a vfork'd parent cannot. So
// every seat started straight from the agent copied the agent's page
// tables and write-protected all its memory, and the agent then took a
// copy-on-write fault on every page it wrote next: ~10 ms of the agent's
// CPU per cold seat on the 2-core build machine, more the bigger its heap.
// The agent starts this program instead, a static executable of a few
// dozen instructions, with an ordinary (vfork) spawn, as
//
//	SPAWNER INIT_PATH ARGV0 ARGS...   (stdin: one end of a socket pair)
//
// and it does:
//
//	clone(CLONE_PARENT|CLONE_NEWUSER|NEWNS|NEWPID|NEWUTS|NEWIPC|NEWNET)
//	                                    or exit 125
//	spawner: write(0, &pid, 4), exit 0  (the init is the agent's child:
//	                                    CLONE_PARENT)
//	init:    read(0, 1 byte)            the agent writes the maps, then
//	                                    one byte; EOF: exit 126
//	         close(0), open("/dev/null") as fd 0
//	         setsid(), setgroups(0, NULL), setresgid(0, 0, 0),
//	         setresuid(0, 0, 0)         the namespace's root, or exit 126
//	         execve(argv[1], &argv[2], envp)   or exit 127
//
// which is what Go's child did between its fork and exec. Its other fds
// (the init's pipes, 3 and up) it leaves where the agent's spawn put them.

import (
	"encoding/binary"
	"runtime"
)

// spawnerCode is the seat spawner's machine code per GOARCH,
// position-independent, followed by "/dev/null\x00".
var spawnerCode = map[string][]byte{
	"amd64": {
		// <_start>:
		0x49, 0x89, 0xe7, // 0: mov r15,rsp
		0xbf, 0x11, 0x80, 0x02, 0x7c, // 3: mov edi,0x7c028011
		0x31, 0xf6, // 8: xor esi,esi
		0x31, 0xd2, // a: xor edx,edx
		0x45, 0x31, 0xd2, // c: xor r10d,r10d
		0x45, 0x31, 0xc0, // f: xor r8d,r8d
		0xb8, 0x38, 0x00, 0x00, 0x00, // 12: mov eax,0x38
		0x0f, 0x05, // 17: syscall
		0x48, 0x85, 0xc0, // 19: test rax,rax
		0x0f, 0x88, 0xaf, 0x00, 0x00, 0x00, // 1c: js d1 <clonefail>
		0x74, 0x19, // 22: je 3d <child>
		0x50,       // 24: push rax
		0x31, 0xff, // 25: xor edi,edi
		0x48, 0x89, 0xe6, // 27: mov rsi,rsp
		0xba, 0x04, 0x00, 0x00, 0x00, // 2a: mov edx,0x4
		0xb8, 0x01, 0x00, 0x00, 0x00, // 2f: mov eax,0x1
		0x0f, 0x05, // 34: syscall
		0x31, 0xff, // 36: xor edi,edi
		0xe9, 0xa0, 0x00, 0x00, 0x00, // 38: jmp dd <out>
		// <child>:
		0x50,       // 3d: push rax
		0x31, 0xff, // 3e: xor edi,edi
		0x48, 0x89, 0xe6, // 40: mov rsi,rsp
		0xba, 0x01, 0x00, 0x00, 0x00, // 43: mov edx,0x1
		0x31, 0xc0, // 48: xor eax,eax
		0x0f, 0x05, // 4a: syscall
		0x48, 0x83, 0xf8, 0x01, // 4c: cmp rax,0x1
		0x0f, 0x85, 0x82, 0x00, 0x00, 0x00, // 50: jne d8 <fail>
		0x31, 0xff, // 56: xor edi,edi
		0xb8, 0x03, 0x00, 0x00, 0x00, // 58: mov eax,0x3
		0x0f, 0x05, // 5d: syscall
		0x48, 0x8d, 0x3d, 0x7e, 0x00, 0x00, 0x00, // 5f: lea rdi,[rip+0x7e]
		0x31, 0xf6, // 66: xor esi,esi
		0x31, 0xd2, // 68: xor edx,edx
		0xb8, 0x02, 0x00, 0x00, 0x00, // 6a: mov eax,0x2
		0x0f, 0x05, // 6f: syscall
		0x48, 0x85, 0xc0, // 71: test rax,rax
		0x75, 0x62, // 74: jne d8 <fail>
		0xb8, 0x70, 0x00, 0x00, 0x00, // 76: mov eax,0x70
		0x0f, 0x05, // 7b: syscall
		0x48, 0x85, 0xc0, // 7d: test rax,rax
		0x78, 0x56, // 80: js d8 <fail>
		0x31, 0xff, // 82: xor edi,edi
		0x31, 0xf6, // 84: xor esi,esi
		0xb8, 0x74, 0x00, 0x00, 0x00, // 86: mov eax,0x74
		0x0f, 0x05, // 8b: syscall
		0x85, 0xc0, // 8d: test eax,eax
		0x75, 0x47, // 8f: jne d8 <fail>
		0x31, 0xff, // 91: xor edi,edi
		0x31, 0xf6, // 93: xor esi,esi
		0x31, 0xd2, // 95: xor edx,edx
		0xb8, 0x77, 0x00, 0x00, 0x00, // 97: mov eax,0x77
		0x0f, 0x05, // 9c: syscall
		0x85, 0xc0, // 9e: test eax,eax
		0x75, 0x36, // a0: jne d8 <fail>
		0x31, 0xff, // a2: xor edi,edi
		0x31, 0xf6, // a4: xor esi,esi
		0x31, 0xd2, // a6: xor edx,edx
		0xb8, 0x75, 0x00, 0x00, 0x00, // a8: mov eax,0x75
		0x0f, 0x05, // ad: syscall
		0x85, 0xc0, // af: test eax,eax
		0x75, 0x25, // b1: jne d8 <fail>
		0x49, 0x8b, 0x7f, 0x10, // b3: mov rdi,QWORD PTR [r15+0x10]
		0x49, 0x8d, 0x77, 0x18, // b7: lea rsi,[r15+0x18]
		0x49, 0x8b, 0x07, // bb: mov rax,QWORD PTR [r15]
		0x49, 0x8d, 0x54, 0xc7, 0x10, // be: lea rdx,[r15+rax*8+0x10]
		0xb8, 0x3b, 0x00, 0x00, 0x00, // c3: mov eax,0x3b
		0x0f, 0x05, // c8: syscall
		0xbf, 0x7f, 0x00, 0x00, 0x00, // ca: mov edi,0x7f
		0xeb, 0x0c, // cf: jmp dd <out>
		// <clonefail>:
		0xbf, 0x7d, 0x00, 0x00, 0x00, // d1: mov edi,0x7d
		0xeb, 0x05, // d6: jmp dd <out>
		// <fail>:
		0xbf, 0x7e, 0x00, 0x00, 0x00, // d8: mov edi,0x7e
		// <out>:
		0xb8, 0xe7, 0x00, 0x00, 0x00, // dd: mov eax,0xe7
		0x0f, 0x05, // e2: syscall
	},
}

// SpawnerELF is the seat spawner as an ELF executable for this machine,
// or nil where there is none (the agent then spawns the init itself).
func SpawnerELF() []byte {
	code, ok := spawnerCode[runtime.GOARCH]
	if !ok {
		return nil
	}
	lc := launcherCode[runtime.GOARCH]
	return elfExec(lc.machine, append(append([]byte(nil), code...), "/dev/null\x00"...))
}

// Clone flags of the seat spawner (the immediate at spawnerFlagsAt in its
// code): the seat's namespaces, and those of a user namespace holder.
const (
	spawnerFlagsAt = 4
	seatCloneFlags = 0x7c028011 // CLONE_NEWUSER|NEWNS|NEWPID|NEWUTS|NEWIPC|NEWNET|CLONE_PARENT|SIGCHLD
	usernsFlags    = 0x10008011 // CLONE_NEWUSER|CLONE_PARENT|SIGCHLD
)

// UsernsSpawnerELF is the seat spawner cloning a user namespace only, with
// no other namespace: the runtime's user namespace holder for a uid range
// (seats on an image). The runtime reads the holder's pid, writes its id
// maps, opens its namespace and closes the socket, upon which the holder
// exits (126) having run nothing. nil where there is no spawner.
func UsernsSpawnerELF() []byte {
	code, ok := spawnerCode[runtime.GOARCH]
	if !ok || runtime.GOARCH != "amd64" {
		return nil
	}
	code = append([]byte(nil), code...)
	imm := code[spawnerFlagsAt : spawnerFlagsAt+4]
	if code[spawnerFlagsAt-1] != 0xbf || binary.LittleEndian.Uint32(imm) != seatCloneFlags {
		return nil // the code changed: no patched variant
	}
	binary.LittleEndian.PutUint32(imm, usernsFlags)
	lc := launcherCode[runtime.GOARCH]
	return elfExec(lc.machine, append(code, "/dev/null\x00"...))
}
