//go:build linux

package seatinit

import (
	"encoding/binary"
	"runtime"
)

// The seat launcher starts each of the learner's shells (and exec
// scripts) for the daemon. The daemon's real and saved uid are DaemonUID,
// its effective uid the learner's, so that the learner cannot signal it;
// a shell must have all three uids the learner's. An unprivileged process
// may set each of them to any of its current ones, but Go's fork sets the
// child's uid with setuid(2), which changes only the effective one
// without privilege. So something between fork and the shell must call
// setresuid(2). That used to be the daemon binary itself (Main with
// LearnerMarker): one more start of a 10 MB Go program before every
// shell, ~18 ms of CPU per seat on the 2-core build machine under load,
// mostly page faults and TLB flushes of the Go runtime's start. The
// launcher is that step and nothing else, a static executable of a few
// dozen instructions that the init writes into the seat's /run:
//
//	setresgid(getegid(), getegid(), getegid())   or exit 126
//	setresuid(geteuid(), geteuid(), geteuid())   or exit 126
//	execve(argv[1], &argv[2], envp)              or exit 127
//
// so it is run as LAUNCHER PATH ARGV0 ARGS... (terminal.Command). It needs
// no privilege and gains none: it only gives up the daemon's real and
// saved uid. Where there is no launcher for the machine's architecture,
// the daemon binary plays it as before.

// launcherCode is the launcher's machine code per GOARCH:
// position-independent, entered with the kernel's initial stack (argc,
// argv..., NULL, envp...).
var launcherCode = map[string]struct {
	machine uint16 // ELF e_machine
	code    []byte
}{
	"amd64": {machine: 62, code: []byte{
		0xb8, 0x6c, 0x00, 0x00, 0x00, // mov eax, 108 (getegid)
		0x0f, 0x05, // syscall
		0x89, 0xc7, // mov edi, eax
		0x89, 0xc6, // mov esi, eax
		0x89, 0xc2, // mov edx, eax
		0xb8, 0x77, 0x00, 0x00, 0x00, // mov eax, 119 (setresgid)
		0x0f, 0x05, // syscall
		0x85, 0xc0, // test eax, eax
		0x75, 0x39, // jnz fail
		0xb8, 0x6b, 0x00, 0x00, 0x00, // mov eax, 107 (geteuid)
		0x0f, 0x05, // syscall
		0x89, 0xc7, // mov edi, eax
		0x89, 0xc6, // mov esi, eax
		0x89, 0xc2, // mov edx, eax
		0xb8, 0x75, 0x00, 0x00, 0x00, // mov eax, 117 (setresuid)
		0x0f, 0x05, // syscall
		0x85, 0xc0, // test eax, eax
		0x75, 0x21, // jnz fail
		0x48, 0x8b, 0x7c, 0x24, 0x10, // mov rdi, [rsp+16]       argv[1]
		0x48, 0x8d, 0x74, 0x24, 0x18, // lea rsi, [rsp+24]       &argv[2]
		0x48, 0x8b, 0x04, 0x24, // mov rax, [rsp]                argc
		0x48, 0x8d, 0x54, 0xc4, 0x10, // lea rdx, [rsp+rax*8+16] envp
		0xb8, 0x3b, 0x00, 0x00, 0x00, // mov eax, 59 (execve)
		0x0f, 0x05, // syscall
		0xbf, 0x7f, 0x00, 0x00, 0x00, // mov edi, 127
		0xeb, 0x05, // jmp out
		0xbf, 0x7e, 0x00, 0x00, 0x00, // fail: mov edi, 126
		0xb8, 0xe7, 0x00, 0x00, 0x00, // out: mov eax, 231 (exit_group)
		0x0f, 0x05, // syscall
	}},
}

// LauncherELF is the launcher as an ELF executable for this machine, or
// nil where there is none: a 64-bit ELF header, a program header loading
// the file read and execute at 0x400000, one marking the stack
// non-executable, then the code.
func LauncherELF() []byte {
	lc, ok := launcherCode[runtime.GOARCH]
	if !ok {
		return nil
	}
	return elfExec(lc.machine, lc.code)
}

// elfExec wraps position-independent code into a static ELF executable.
func elfExec(machine uint16, code []byte) []byte {
	const (
		base   = 0x400000
		ehSize = 64
		phSize = 56
		phNum  = 2
		entry  = ehSize + phNum*phSize
	)
	le := binary.LittleEndian
	b := make([]byte, entry, entry+len(code))
	copy(b, []byte{0x7f, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* little endian */, 1 /* version */})
	le.PutUint16(b[16:], 2) // ET_EXEC
	le.PutUint16(b[18:], machine)
	le.PutUint32(b[20:], 1)          // EV_CURRENT
	le.PutUint64(b[24:], base+entry) // e_entry
	le.PutUint64(b[32:], ehSize)     // e_phoff
	le.PutUint16(b[52:], ehSize)     // e_ehsize
	le.PutUint16(b[54:], phSize)     // e_phentsize
	le.PutUint16(b[56:], phNum)      // e_phnum
	load := b[ehSize:]               // PT_LOAD, R+X, the whole file
	le.PutUint32(load[0:], 1)        // PT_LOAD
	le.PutUint32(load[4:], 5)        // PF_R|PF_X
	le.PutUint64(load[16:], base)    // p_vaddr
	le.PutUint64(load[24:], base)    // p_paddr
	size := uint64(entry + len(code))
	le.PutUint64(load[32:], size)       // p_filesz
	le.PutUint64(load[40:], size)       // p_memsz
	le.PutUint64(load[48:], 0x1000)     // p_align
	stack := b[ehSize+phSize:]          // PT_GNU_STACK, R+W
	le.PutUint32(stack[0:], 0x6474e551) // PT_GNU_STACK
	le.PutUint32(stack[4:], 6)          // PF_R|PF_W
	return append(b, code...)
}
