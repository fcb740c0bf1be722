package storm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// ErrUnsupported: no nop program for this architecture.
var ErrUnsupported = errors.New("no nop program for " + runtime.GOARCH)

// exitCode is exit(0) as machine code, per architecture.
func exitCode(arch string) (code []byte, machine uint16, ok bool) {
	switch arch {
	case "amd64": // mov eax, 60; xor edi, edi; syscall
		return []byte{0xb8, 0x3c, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05}, 62, true
	case "arm64": // mov x8, #93; mov x0, #0; svc #0
		code = binary.LittleEndian.AppendUint32(nil, 0xd2800ba8)
		code = binary.LittleEndian.AppendUint32(code, 0xd2800000)
		return binary.LittleEndian.AppendUint32(code, 0xd4000001), 183, true
	}
	return nil, 0, false
}

// elf returns a static ELF64 executable of one loadable segment holding
// code, entered at its first byte.
func elf(code []byte, machine uint16) []byte {
	const base, ehsize, phsize = 0x400000, 64, 56
	le := binary.LittleEndian
	b := make([]byte, 0, ehsize+phsize+len(code))
	b = append(b, 0x7f, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* little endian */, 1 /* version */, 0 /* System V */)
	b = append(b, make([]byte, 8)...)
	b = le.AppendUint16(b, 2) // ET_EXEC
	b = le.AppendUint16(b, machine)
	b = le.AppendUint32(b, 1)                   // version
	b = le.AppendUint64(b, base+ehsize+phsize)  // entry
	b = le.AppendUint64(b, ehsize)              // program headers
	b = le.AppendUint64(b, 0)                   // section headers: none
	b = le.AppendUint32(b, 0)                   // flags
	b = le.AppendUint16(b, ehsize)              // header size
	b = le.AppendUint16(b, phsize)              // program header size
	b = le.AppendUint16(b, 1)                   // one program header
	b = le.AppendUint16(b, 64)                  // section header size
	b = le.AppendUint16(b, 0)                   // no sections
	b = le.AppendUint16(b, 0)                   // no section names
	size := uint64(ehsize + phsize + len(code)) //
	b = le.AppendUint32(b, 1)                   // PT_LOAD
	b = le.AppendUint32(b, 5)                   // read, execute
	b = le.AppendUint64(b, 0)                   // from the file's start
	b = le.AppendUint64(b, base)                // virtual address
	b = le.AppendUint64(b, base)                // physical address
	b = le.AppendUint64(b, size)                // in the file
	b = le.AppendUint64(b, size)                // in memory
	b = le.AppendUint64(b, 0x1000)              // alignment
	return append(b, code...)
}

// Nop writes a program named name in dir that exits 0 at once, and
// returns its path.
func Nop(dir, name string) (string, error) {
	code, machine, ok := exitCode(runtime.GOARCH)
	if !ok {
		return "", ErrUnsupported
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, elf(code, machine), 0o755); err != nil {
		return "", fmt.Errorf("write nop program: %w", err)
	}
	return p, nil
}
